"""`import` as board code sees it: MicroPython's built-in modules, then the board's file system.

Modules are found as `NAME.py`, `NAME.mpy` or a package directory, in the working directory and
then in /lib; `u`-prefixed aliases and a few CPython standard modules stand in for MicroPython's.
"""

from __future__ import annotations

import contextlib
import importlib
import posixpath
import types
from collections.abc import Callable, Mapping
from typing import Any

from sim.board.fs import BoardFs
from sim.board.interpreter import Interpreter
from sim.board.mpy import MpySources

STDLIB = frozenset(
    {"json", "struct", "errno", "io", "collections", "math", "random", "re", "array", "heapq", "binascii"}
)
ALIASES = {f"u{name}": name for name in (*STDLIB, "os", "sys", "time", "hashlib", "select")}


class Importer:
    """The board's `__import__`: one session's sys.modules, filled from built-ins and the board's files."""

    def __init__(
        self,
        fs: BoardFs,
        interpreter: Interpreter,
        mpy: MpySources,
        builtin_modules: Callable[[], dict[str, types.ModuleType]],
    ) -> None:
        """`builtin_modules` makes a session's os, sys, time, machine, ... on its first import."""
        self.fs, self.interpreter, self.mpy = fs, interpreter, mpy
        self._builtin_modules = builtin_modules

    @property
    def modules(self) -> dict[str, types.ModuleType]:
        """The current session's sys.modules."""
        return self.interpreter.modules

    def import_(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: object = None,
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        """builtins.__import__ for board code."""
        if level:
            package = (globals or {}).get("__package__") or ""
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            name = f"{base}.{name}" if name else base
        module = self._load(name)
        for item in fromlist or ():
            if item != "*" and not hasattr(module, item) and hasattr(module, "__path__"):
                with contextlib.suppress(ImportError):
                    self._load(f"{name}.{item}")
        return module if fromlist else self._load(name.partition(".")[0])

    def _load(self, name: str) -> types.ModuleType:
        name = ALIASES.get(name, name)
        if name in self.modules:
            return self.modules[name]
        if not self.modules:
            self.modules.update(self._builtin_modules())
            if name in self.modules:
                return self.modules[name]
        parent, _, leaf = name.rpartition(".")
        if parent:
            self._load(parent)
        module = self._load_board(name) or self._load_stdlib(name)
        if module is None:
            raise ImportError(f"no module named '{name}'")
        self.modules[name] = module
        if parent:
            setattr(self.modules[parent], leaf, module)
        return module

    def _load_stdlib(self, name: str) -> types.ModuleType | None:
        return importlib.import_module(name) if name in STDLIB else None

    def _load_board(self, name: str) -> types.ModuleType | None:
        rel = name.replace(".", "/")
        for base in ("", "/lib"):
            stem = posixpath.join(base, rel) if base else self.fs.absolute(rel)
            if self.fs.host(stem).is_dir():
                module = self._new_module(name, stem + "/__init__.py", package=stem)
                init = self._find_code(stem + "/__init__")
                if init is not None:
                    self.interpreter.exec_module(module, *init)
                return module
            code = self._find_code(stem)
            if code is not None:
                module = self._new_module(name, code[1], package=None)
                self.interpreter.exec_module(module, *code)
                return module
        return None

    def _find_code(self, stem: str) -> tuple[str, str] | None:
        """(source, board file name) of a .py or of a .mpy whose source the simulator can match."""
        py, mpy = self.fs.host(stem + ".py"), self.fs.host(stem + ".mpy")
        if py.is_file():
            return py.read_text(encoding="utf-8"), stem.lstrip("/") + ".py"
        if mpy.is_file():
            return self.mpy.source(mpy.read_bytes(), stem + ".mpy"), stem.lstrip("/") + ".py"
        return None

    def _new_module(self, name: str, file: str, package: str | None) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__file__ = file
        module.__package__ = name if package else name.rpartition(".")[0]
        if package:
            module.__path__ = [package]
        module.__dict__["__builtins__"] = self.interpreter.globals["__builtins__"]
        return module
