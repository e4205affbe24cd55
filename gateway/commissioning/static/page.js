// The commissioning page: state every second, each camera's newest preview as soon as it exists,
// and a polygon tool whose output is the config's own format (fractions of the frame, x right, y down).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const cameras = new Map();

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const num = (v) => String(Number(v.toFixed(3)));
const points = (polygon) => `[${polygon.map(([x, y]) => `[${num(x)}, ${num(y)}]`).join(", ")}]`;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function svgPolygon(cls, polygon) {
  const node = document.createElementNS(SVG, "polygon");
  node.setAttribute("class", cls);
  node.setAttribute("points", polygon.map(([x, y]) => `${x},${y}`).join(" "));
  return node;
}

function gone(response) {
  if (response.status === 401) {
    location.href = "/login";
    return true;
  }
  return false;
}

function makeCamera(row) {
  const cam = { id: row.id, draft: [], known: "" };
  cam.status = el("span", { class: "badge" });
  cam.info = el("span", { class: "info" });
  cam.img = el("img", { alt: `camera ${row.id}`, class: "preview" });
  cam.svg = document.createElementNS(SVG, "svg");
  cam.svg.setAttribute("viewBox", "0 0 1 1");
  cam.svg.setAttribute("preserveAspectRatio", "none");
  cam.labels = el("div");
  cam.view = el("div", { class: "view" }, cam.img, cam.svg, cam.labels);
  cam.people = el("ul", { class: "people" });
  cam.tamper = el("span", { class: "tamper" });
  cam.mode = el("select", { "aria-label": "what to draw" }, el("option", { value: "mask" }, "mask"),
    el("option", { value: "zone" }, "zone"));
  cam.name = el("input", { value: "zone-name", size: "10", "aria-label": "zone name" });
  const undo = el("button", { type: "button" }, "Undo point");
  const clear = el("button", { type: "button" }, "Clear");
  cam.snippet = el("pre", { class: "snippet" });
  cam.node = el("article", { class: "camera", id: `camera-${row.id}` },
    el("h2", {}, `${row.id} `, cam.status, " ", cam.tamper), cam.info, cam.view,
    el("div", { class: "tools" }, "Draw a", cam.mode, cam.name, undo, clear), cam.snippet,
    el("h3", {}, "People"), cam.people);
  cam.svg.addEventListener("click", (event) => {
    const box = cam.svg.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    cam.draft.push([clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)]);
    drawOverlay(cam);
  });
  undo.addEventListener("click", () => { cam.draft.pop(); drawOverlay(cam); });
  clear.addEventListener("click", () => { cam.draft = []; drawOverlay(cam); });
  cam.mode.addEventListener("change", () => drawOverlay(cam));
  cam.name.addEventListener("input", () => drawOverlay(cam));
  document.getElementById("cameras").append(cam.node);
  frames(cam);
  return cam;
}

function drawOverlay(cam) {
  const row = cam.row;
  cam.svg.replaceChildren();
  cam.labels.replaceChildren();
  for (const mask of row.masks) cam.svg.append(svgPolygon("mask", mask));
  for (const zone of row.zones) {
    cam.svg.append(svgPolygon("zone", zone.polygon));
    const [x, y] = zone.polygon[0];
    const label = el("span", { class: "label" }, zone.name);
    label.style.left = `${x * 100}%`;
    label.style.top = `${y * 100}%`;
    cam.labels.append(label);
  }
  if (cam.draft.length) cam.svg.append(svgPolygon("draft", cam.draft));
  cam.snippet.textContent = snippet(cam);
}

function snippet(cam) {
  if (cam.draft.length < 3) return `Click at least 3 points on the picture (${cam.draft.length} so far).`;
  const drawn = points(cam.draft);
  if (cam.mode.value === "mask") {
    const all = [...cam.row.masks.map(points), drawn];
    return `# camera ${cam.id}: its masks, the new one last\nmasks: [${all.join(", ")}]`;
  }
  const zone = (name, polygon) => `{name: ${name}, polygon: ${polygon}}`;
  const all = [...cam.row.zones.map((z) => zone(z.name, points(z.polygon))), zone(cam.name.value, drawn)];
  return `# camera ${cam.id}: its zones, the new one last\nzones: [${all.join(", ")}]`;
}

async function frames(cam) {
  let after = "";
  for (;;) {
    try {
      const response = await fetch(`/camera/${cam.id}.jpg?after=${after}`, { cache: "no-store" });
      if (gone(response)) return;
      if (!response.ok) {
        await sleep(1000);
        continue;
      }
      after = response.headers.get("X-Frame-Index") || "";
      const old = cam.img.src;
      cam.img.onload = () => { if (old.startsWith("blob:")) URL.revokeObjectURL(old); };
      cam.img.src = URL.createObjectURL(await response.blob());
      cam.img.dataset.frame = after;
    } catch (error) {
      await sleep(1000);
    }
  }
}

function updateCamera(cam, row) {
  cam.row = row;
  cam.status.textContent = row.online ? "online" : "offline";
  cam.status.className = `badge ${row.online ? "online" : "offline"}`;
  cam.tamper.textContent = row.tamper.length ? `tamper: ${row.tamper.join(", ")}` : "";
  cam.tamper.className = row.tamper.length ? "badge alert" : "";
  const size = row.frame ? `${row.frame.width}x${row.frame.height}` : "no frame yet";
  const age = row.last_frame_age_s === null ? "" : `, newest frame ${row.last_frame_age_s} s ago`;
  cam.info.textContent = `${size}; frames read ${row.frames_read}, analysed ${row.frames_analysed}, ` +
    `reconnects ${row.reconnects}${age}`;
  cam.people.replaceChildren(...row.people.map((p) => el("li", { class: "person" },
    `#${p.track} at [${p.box.map(num).join(", ")}]` +
    (p.probability === null ? ", fall model warming up" : `, fall probability ${p.probability}`) +
    (p.posed ? ", pose seen" : ""))));
  if (!row.people.length) cam.people.append(el("li", {}, "nobody"));
  const known = JSON.stringify([row.zones, row.masks]);
  if (known !== cam.known) {
    cam.known = known;
    drawOverlay(cam);
  }
}

function renderSensors(rows) {
  const body = document.querySelector("#sensors tbody");
  body.replaceChildren(...rows.map((s) => {
    const values = Object.entries(s.values).map(([key, v]) =>
      `${key} ${v.value} ${v.unit}${v.flags.length ? ` (${v.flags.join(", ")})` : ""}`).join("; ");
    const age = s.last_reading_age_s === null ? "never" : `${s.last_reading_age_s} s ago`;
    return el("tr", { id: `sensor-${s.id}` }, el("td", {}, s.id), el("td", {}, s.type),
      el("td", {}, el("span", { class: `badge ${s.online ? "online" : "offline"}` }, s.online ? "online" : "offline")),
      el("td", { class: "values" }, values || "none yet"), el("td", {}, age), el("td", {}, String(s.frames_ok)),
      el("td", {}, String(s.bad_frames)), el("td", {}, String(s.timeouts)), el("td", {}, String(s.reconnects)));
  }));
}

async function poll() {
  const link = document.getElementById("link");
  for (;;) {
    try {
      const response = await fetch("/api/state", { cache: "no-store" });
      if (gone(response)) return;
      const state = await response.json();
      document.getElementById("where").textContent = `${state.site} / ${state.gateway}`;
      for (const row of state.cameras) updateCamera(cameras.get(row.id) || cameras.set(row.id, makeCamera(row)).get(row.id), row);
      renderSensors(state.sensors);
      link.textContent = "live";
      link.className = "badge online";
    } catch (error) {
      link.textContent = "gateway unreachable";
      link.className = "badge offline";
    }
    await sleep(1000);
  }
}

if (!document.querySelector("#logout input").value) document.getElementById("logout").hidden = true;
poll();
