// Run a MicroPython script on the real MicroPython interpreter (WebAssembly port) under Node.js.
//
//   node tests/firmware/run_mpy.mjs FIRMWARE_DIR HELPERS_DIR TEST_MODULE
//
// The interpreter is the npm package @micropython/micropython-webassembly-pyscript, pinned in
// firmware/package.json (`npm ci --prefix firmware`). Its in-memory file system gets the board layout
// that the flash tool writes: /main.py, /lib/node/*.py, /lib/<driver>.py; HELPERS_DIR (fakes such as
// `machine`, and the test modules) goes to /tests, first on sys.path. Then runner.main(TEST_MODULE)
// runs the module's test_* functions, one result line each. Exit status: 0 when every test passed,
// 1 on a failure or an uncaught Python exception, 3 when the interpreter is not installed.
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [firmware, helpers] = process.argv.slice(2, 4).map((p) => resolve(p));
const testModule = process.argv[4];
if (!testModule || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(testModule)) {
  console.error("usage: node run_mpy.mjs FIRMWARE_DIR HELPERS_DIR TEST_MODULE");
  process.exit(2);
}
const pkg = join(firmware, "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs");
if (!existsSync(pkg)) {
  console.error(`MicroPython (wasm) is not installed: run \`npm ci --prefix firmware\` (missing ${pkg})`);
  process.exit(3);
}
const { loadMicroPython } = await import(pathToFileURL(pkg).href);
const mp = await loadMicroPython({
  heapsize: 4 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyTree(src, dst, keep) {
  mp.FS.mkdirTree(dst);
  for (const name of readdirSync(src)) {
    const from = join(src, name);
    if (statSync(from).isDirectory()) {
      if (name !== "node_modules" && name !== "__pycache__") copyTree(from, `${dst}/${name}`, keep);
    } else if (keep(name)) {
      mp.FS.writeFile(`${dst}/${name}`, readFileSync(from));
    }
  }
}

const isPy = (name) => name.endsWith(".py");
copyTree(join(firmware, "node"), "/lib/node", isPy);
for (const chip of readdirSync(join(firmware, "drivers"))) {
  const file = join(firmware, "drivers", chip, `${chip}.py`);
  if (existsSync(file)) mp.FS.writeFile(`/lib/${chip}.py`, readFileSync(file));
}
mp.FS.writeFile("/main.py", readFileSync(join(firmware, "main.py")));
copyTree(helpers, "/tests", isPy);

try {
  mp.runPython(`import sys\nsys.path.insert(0, "/tests")\nimport runner\nrunner.main("${testModule}")\n`);
} catch (error) {
  if (error.name !== "PythonError") throw error;
  if (error.type === "SystemExit") process.exit(1); // runner.main's verdict: a test failed
  process.stderr.write(error.message + "\n");
  process.exit(1);
}
