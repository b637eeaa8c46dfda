"""Compiled code (numba): the product's decorators, where their compiled code is kept, and the
line a user sees while it is being prepared.

- ``compiled``: a function compiled once per real type signature. A constant passed to it from
  compiled code (``send(st, ..., True, ...)``) is typed as its plain type, not as a Literal
  specialisation of its own, and a compiled function has no default arguments (an omitted one is
  a type of its own too), so one body builds once.
- ``python_callable`` (under either decorator): the function is also called from Python, so it
  gets numba's CPython wrapper and machine code of its own. Only those do: a wrapper that
  unboxes the broker's state of some thirty arrays is a large function of its own, and most
  compiled functions are helpers that only compiled code calls (calling one from Python raises
  a TypeError naming it). A helper is kept as LLVM IR only (``_LinkOnlyLibrary``): numba links
  a callee's code into each caller's module and optimises and emits that whole module again,
  so every level of a call tree used to be optimised and emitted once more; now a call tree is
  optimised and emitted once, in the Python-callable function at its root.
- ``compiled_inline``: the same, marked for LLVM to inline into its callers (``alwaysinline``).
  For the simulated tick's path, where a call that hands over the broker's state field by field
  costs more than the work; LLVM inlines the optimised body, so it is typed and lowered once,
  not once per call site as numba's own IR inlining would.
- Compiled code is cached on disk in a user cache directory (``cache_dir``), never inside the
  package: a read-only install works, and ``pip uninstall`` leaves nothing behind in
  site-packages. A module's cache is keyed by its own source and the sources of the compiled
  modules it imports (and of ``mt5.py``, whose constants are compiled in): an edit of the kernel
  rebuilds the kernel and the loop, not the indicators. Each function is written to the cache as
  soon as it is compiled, so a killed first run keeps what it had done.
- ``preparing(...)``: a context in which a first compilation says so on one line and shows a
  progress bar, so a first command never looks frozen.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import llvmlite.binding
import numba
import numba.core.caching
import numba.core.codegen
import numba.core.compiler
import numba.core.event
import numba.core.registry
from numba import _dynfunc  # type: ignore[attr-defined]

# numba's own names, untyped here (its internals carry partial annotations).
config: Any = numba.config
types: Any = numba.types
caching: Any = numba.core.caching
event: Any = numba.core.event
CPUDispatcher: Any = numba.core.registry.CPUDispatcher
JITCodeLibrary: Any = numba.core.codegen.JITCodeLibrary
Compiler: Any = numba.core.compiler.Compiler
CompileResult: Any = numba.core.compiler.CompileResult

_F = TypeVar("_F", bound=Callable[..., Any])
PACKAGE = Path(__file__).resolve().parent
CACHE_ENV = "NL_TRADER_CACHE_DIR"
# Modules of constants that compiled code freezes in when it is compiled (they define no
# compiled function of their own): a module that imports one is rebuilt when it changes.
_CONSTANT_MODULES = ("mt5.py", "sim/kernel/layout.py")
# One function's first compilation on a 2-core machine, on average (benchmarks/first_run.py).
_SECONDS_PER_FUNCTION = 0.3


def cache_dir() -> Path:
    """Where compiled code is kept: ``$NL_TRADER_CACHE_DIR``, else the user's cache directory
    (``$XDG_CACHE_HOME/nl_trader``, ``~/.cache/nl_trader``; ``%LOCALAPPDATA%\\nl_trader`` on
    Windows; ``~/Library/Caches/nl_trader`` on macOS), one folder per install of the package."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        root = Path(chosen)
    elif sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        root = root / "nl_trader" / "Cache"
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches" / "nl_trader"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nl_trader"
    install = hashlib.sha1(str(PACKAGE).encode()).hexdigest()[:12]
    return root / "compiled" / f"{PACKAGE.parent.name}-{install}"


@functools.cache
def _is_compiled_module(path: Path) -> bool:
    """Whether compiled code is built from ``path``: it defines compiled functions, holds
    constants they read, or is a package whose namespace gathers such modules."""
    if path.name == "__init__.py" or str(path.relative_to(PACKAGE)) in _CONSTANT_MODULES:
        return True
    text = path.read_text(encoding="utf-8")
    return "@compiled" in text or "= compiled(" in text


def _module_path(name: str) -> Path | None:
    if not name.startswith("nl_trader"):
        return None
    parts = name.split(".")[1:]
    if not parts:
        return None
    relative = Path(*parts)
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _compiled_imports(path: Path) -> tuple[Path, ...]:
    """The compiled modules (and constant modules) ``path`` imports, directly."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            module = _module_path(name)
            if module is not None and module != path and _is_compiled_module(module):
                found.add(module)
    return tuple(sorted(found))


def compiled_against(path: Path) -> set[Path]:
    """``path`` and every module its compiled code is built with, transitively: the compiled
    and constant modules it imports, and this file."""
    seen: set[Path] = {Path(__file__).resolve()}  # the decorators' options build every function
    waiting = [path]
    while waiting:
        module = waiting.pop()
        if module not in seen:
            seen.add(module)
            waiting.extend(_compiled_imports(module))
    return seen


@functools.cache
def source_stamp(path: Path) -> str:
    """A digest of the sources ``path`` is compiled against: the key of its compiled code in the
    cache (an edit of any of them rebuilds it; of any other module, not)."""
    digest = hashlib.sha256()
    for module in sorted(compiled_against(path)):
        digest.update(str(module.relative_to(PACKAGE)).encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


class _Locator(caching.UserProvidedCacheLocator):  # type: ignore[misc]
    """numba's cache locator for the package's functions: ``cache_dir()``, and the module's
    ``source_stamp`` as the freshness of its cache."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        module = Path(py_file).resolve()
        relative = module.relative_to(PACKAGE).with_suffix("")
        self._cache_path = str(cache_dir().joinpath(*relative.parts))

    def get_source_stamp(self) -> str:
        return source_stamp(Path(self._py_file).resolve())

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> _Locator | None:
        if not Path(py_file).resolve().is_relative_to(PACKAGE):
            return None
        locator = cls(py_func, py_file)
        try:
            locator.ensure_cache_path()
        except OSError:  # an unwritable cache: compile every run, do not fail
            return None
        return locator


_LINK_ONLY = "link-only"


class _LinkOnlyLibrary(JITCodeLibrary):  # type: ignore[misc]
    """A helper's code, kept as LLVM IR for its callers to link in. It is never optimised as a
    module nor made into machine code of its own: only compiled code calls a helper, and each
    caller links the helper's IR into its own module and optimises it there, inlined with the
    rest. numba would otherwise optimise and emit every level of a call tree again (a helper's
    module holds its callees), which was most of a first compilation."""

    def _optimize_final_module(self) -> None:
        """Left to the caller that links this in (its function passes have run)."""

    def _finalize_final_module(self) -> None:
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    def serialize_using_object_code(self) -> tuple[str, str, bytes]:
        return (self.name, _LINK_ONLY, self._get_module_for_linking().as_bitcode())

    @classmethod
    def unserialized(cls, codegen: Any, name: str, bitcode: bytes) -> _LinkOnlyLibrary:
        library = cls(codegen, name)
        library._final_module = llvmlite.binding.parse_bitcode(bitcode)
        library._shared_module = library._final_module
        library._finalize_final_module()
        return library


def _helper_entry(library: Any, fndesc: Any, env: Any) -> Any:
    """A helper's stand-in for numba's executable: no machine code and no environment of its
    own, only the handle by which its callers find its library to link."""
    name = fndesc.qualname.split(".")[-1]
    return _dynfunc.make_function(fndesc.lookup_module(), name, name, 0, env, (library,))


class _LinkOnlyCompiler(Compiler):  # type: ignore[misc]
    """numba's compiler, building a helper into a ``_LinkOnlyLibrary``."""

    def __init__(self, typingctx: Any, targetctx: Any, library: Any, *rest: Any) -> None:
        super().__init__(typingctx, targetctx, library, *rest)
        # This compilation's own copy of the target (numba makes one per compilation).
        self.state.targetctx.get_executable = _helper_entry

    def compile_extra(self, func: Any) -> Any:
        if self.state.library is None:
            codegen = self.state.targetctx.codegen()
            self.state.library = _LinkOnlyLibrary(codegen, func.__qualname__)
            self.state.library.enable_object_caching()
        return super().compile_extra(func)


class _CacheImpl(caching.CompileResultCacheImpl):  # type: ignore[misc]
    """numba's cache of compile results, at ``cache_dir()``; a helper's result reloads as a
    ``_LinkOnlyLibrary`` (numba's own ``CompileResult._rebuild`` would emit machine code)."""

    _locator_classes: ClassVar[list[Any]] = [_Locator]

    def rebuild(self, target_context: Any, payload: Any) -> Any:
        libdata, fndesc, env, signature, objectmode, lifted, typeann, reload_init, envs = payload
        name, kind, data = libdata
        if kind != _LINK_ONLY:
            return super().rebuild(target_context, payload)
        for function in reload_init:
            function()
        library = _LinkOnlyLibrary.unserialized(target_context.codegen(), name, data)
        return CompileResult(
            target_context=target_context,
            typing_context=target_context.typing_context,
            library=library,
            environment=env,
            entry_point=_helper_entry(library, fndesc, env),
            fndesc=fndesc,
            type_annotation=typeann,
            signature=signature,
            objectmode=objectmode,
            lifted=lifted,
            typing_error=None,
            call_helper=None,
            metadata=None,
            reload_init=reload_init,
            referenced_envs=envs,
        )


class _FunctionCache(caching.FunctionCache):  # type: ignore[misc]
    _impl_class = _CacheImpl


class _Dispatcher(CPUDispatcher):  # type: ignore[misc]
    """numba's dispatcher, typing calls from compiled code on plain types (module docstring)."""

    def get_call_template(self, args: Any, kws: Any) -> Any:
        plain_args = tuple(types.unliteral(a) for a in args)
        plain_kws = {name: types.unliteral(value) for name, value in kws.items()}
        return super().get_call_template(plain_args, plain_kws)

    def enable_caching(self) -> None:
        try:
            self._cache = _FunctionCache(self.py_func)
        except RuntimeError:  # no usable cache directory: compile in memory
            self._cache = caching.NullCache()


class _HelperDispatcher(_Dispatcher):
    """A compiled helper without a CPython wrapper: callable from compiled code only."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self.py_func.__qualname__} is a compiled helper, called from compiled code only; "
            "mark it @python_callable to call it from Python"
        )


DISPATCHERS: list[Any] = []


def python_callable(function: _F) -> _F:
    """Mark a compiled function (put it under ``@compiled``) as also called from Python."""
    function.__dict__["_python_callable"] = True
    return function


def _jit(**options: Any) -> Callable[[_F], _F]:
    """A compiled function (nopython, cached, without reference counting) with ``options``."""

    def decorate(function: _F) -> _F:
        if config.DISABLE_JIT:
            return function
        defaults = function.__defaults__ or function.__kwdefaults__
        if defaults:
            raise TypeError(f"{function.__qualname__}: a compiled function takes no defaults")
        entry = bool(function.__dict__.get("_python_callable"))
        kind = _Dispatcher if entry else _HelperDispatcher
        dispatcher = kind(
            py_func=function,
            pipeline_class=Compiler if entry else _LinkOnlyCompiler,
            locals={},
            targetoptions={
                "nopython": True,
                "_nrt": False,
                "no_cpython_wrapper": not entry,
                "no_cfunc_wrapper": True,
                **options,
            },
        )
        dispatcher.enable_caching()
        DISPATCHERS.append(dispatcher)
        return cast(_F, dispatcher)

    return decorate


# No reference counting (NRT): compiled functions allocate nothing (callers pass every array
# in), and a call would otherwise count references on each array it is given, going in and
# out; with the fill engine's state of some twenty tables that was most of a simulated bar.
compiled = _jit(forceinline=False)
compiled_inline = _jit(forceinline=True)


def _function_name(dispatcher: Any) -> str:
    function = dispatcher.py_func
    return f"{function.__module__.removeprefix('nl_trader.')}.{function.__qualname__}"


def signature_counts() -> dict[str, int]:
    """Each compiled function's number of compiled versions in this process."""
    return {_function_name(d): len(d.signatures) for d in DISPATCHERS if d.signatures}


def _is_cached(dispatcher: Any) -> bool:
    cache: Any = getattr(dispatcher, "_cache", None)
    try:  # numba's index of the function's cached versions; {} when missing or stale
        return bool(cache._cache_file._load_index())
    except Exception:  # no cache (NullCache), or an unreadable index: not cached
        return False


def _of(modules: tuple[str, ...]) -> list[Any]:
    return [d for d in DISPATCHERS if not modules or d.py_func.__module__.startswith(modules)]


def uncached(modules: tuple[str, ...] = ()) -> list[str]:
    """The compiled functions (of ``modules``' names, all without) with nothing in the cache."""
    return [_function_name(d) for d in _of(modules) if not _is_cached(d)]


class _Progress(event.Listener):  # type: ignore[misc]
    """Shows the first compilation of the package's functions as it happens."""

    def __init__(self, what: str, waiting: list[str], of: int, stream: Any) -> None:
        self.what, self.waiting, self.of, self.stream = what, waiting, of, stream
        self.depth = 0
        self.done = 0
        self.started_s = 0.0
        self.bar: Any = None
        self.task: Any = None

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self.stream, stderr=self.stream is sys.stderr)
        total = max(len(self.waiting), 1)
        estimate_s = max(5, round(total * _SECONDS_PER_FUNCTION / 5) * 5)
        kept = len(self.waiting) < self.of
        resumed = " (resuming: what was compiled before is kept)" if kept else ""
        console.print(
            f"Preparing {self.what} for this machine, once: about {estimate_s} s{resumed}",
            highlight=False,
            soft_wrap=True,
        )
        self.bar = Progress(
            TextColumn("  compiling"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task("", total=total)
        self.bar.start()
        self.started_s = time.perf_counter()

    def on_start(self, ev: Any) -> None:
        dispatcher = ev.data["dispatcher"]
        if dispatcher not in DISPATCHERS:
            return
        if self.bar is None:
            self._start()
        self.depth += 1
        self.bar.update(self.task, description=_function_name(dispatcher))

    def on_end(self, ev: Any) -> None:
        if ev.data["dispatcher"] not in DISPATCHERS or self.bar is None:
            return
        self.depth -= 1
        self.done += 1
        self.bar.update(self.task, completed=min(self.done, self.bar.tasks[0].total))

    def close(self) -> None:
        if self.bar is None:
            return
        self.bar.update(self.task, completed=self.bar.tasks[0].total, description="")
        self.bar.stop()
        took_s = time.perf_counter() - self.started_s
        print(f"  prepared in {took_s:.0f} s; kept for every later run", file=self.stream)


_PREPARED: set[tuple[str, ...]] = set()


@contextlib.contextmanager
def preparing(what: str, modules: tuple[str, ...] = (), stream: Any = None) -> Iterator[None]:
    """Within this context, a compilation of the package's functions (of ``modules``: all by
    default) says what it prepares and shows its progress on ``stream`` (stderr by default).
    Silent when everything is compiled already; the cache is looked at once per process."""
    waiting = [] if modules in _PREPARED else uncached(modules)
    _PREPARED.add(modules)
    if not waiting:
        yield
        return
    listener = _Progress(what, waiting, len(_of(modules)), sys.stderr if stream is None else stream)
    event.register("numba:compile", listener)
    try:
        yield
    finally:
        event.unregister("numba:compile", listener)
        listener.close()
