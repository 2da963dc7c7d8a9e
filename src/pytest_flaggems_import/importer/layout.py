"""Find a FlagGems checkout and the paths an operator takes in it (SPEC §5). Detect, never assume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_flaggems_import.core.names import is_identifier
from pytest_flaggems_import.errors import InputError

LAYOUTS = ("generated", "experimental_ops", "ops")


@dataclass(frozen=True)
class OpPaths:
    code: Path
    init: Path  # gets the import and the __all__ entry
    test: Path
    packages: tuple[Path, ...]  # __init__.py files that must exist for the import to work
    module: str  # dotted import path of the operator
    benchmark: Path | None = None  # the ops layout's benchmark/test_<op>.py


@dataclass(frozen=True)
class Checkout:
    root: Path
    package: Path  # .../flag_gems
    layout: str
    why: str = ""  # how the layout was chosen

    @property
    def journal(self) -> Path:
        """Where an import in progress keeps what it replaces (importer.transaction)."""
        return self.package.parent / ".flaggems-import-journal.json"

    @property
    def operators_yaml(self) -> Path:
        return self.root / "conf" / "operators.yaml"

    @property
    def metadata(self) -> Path:
        if self.layout == "experimental_ops":
            return self.package / "experimental_ops" / "_metadata.json"
        return self.package / "experimental" / "generated" / "_metadata.json"

    def paths(self, entry: str, category: str) -> OpPaths:
        for part, what in ((entry, "operator"), (category, "category")):
            if not is_identifier(part):  # the guard against '..', '/', absolute paths
                raise InputError(None, None, f"{what} name {part!r} is not a Python identifier; refusing to write it")
        pkg = self.package
        if self.layout == "ops":
            from pytest_flaggems_import.importer.ops_layout import file_stem

            return OpPaths(
                code=pkg / "ops" / f"{entry}.py",
                init=pkg / "ops" / "__init__.py",
                test=self.root / "tests" / f"test_{file_stem(entry)}.py",
                packages=(),
                module=f"flag_gems.ops.{entry}",
                benchmark=self.root / "benchmark" / f"test_{file_stem(entry)}.py",
            )
        if self.layout == "experimental_ops":
            folder = pkg / "experimental_ops"
            return OpPaths(
                code=folder / f"{entry}.py",
                init=folder / "__init__.py",
                test=self.root / "experimental_tests" / "unit" / f"{entry}_test.py",
                packages=(),
                module=f"flag_gems.experimental_ops.{entry}",
            )
        generated = pkg / "experimental" / "generated"
        folder = generated / category
        return OpPaths(
            code=folder / f"{entry}.py",
            init=folder / "__init__.py",
            test=self._test_folder() / f"test_{entry}.py",
            packages=(pkg / "experimental" / "__init__.py", generated / "__init__.py"),
            module=f"flag_gems.experimental.generated.{category}.{entry}",
        )

    def _test_folder(self) -> Path:
        """The checkout's existing experimental test folder, else the seed's default."""
        for candidate in (self.package / "experimental" / "tests", self.root / "tests" / "experimental"):
            if candidate.is_dir():
                return candidate
        return self.package / "experimental" / "tests"


def find_checkout(root: str | Path, layout: str = "auto") -> Checkout:
    root = Path(root)
    for package in (root / "src" / "flag_gems", root / "flag_gems"):
        if package.is_dir():
            break
    else:
        raise InputError(root, None, "not a FlagGems checkout: no src/flag_gems or flag_gems folder")
    if package.parent.name == "src" and package.parent == root:
        # ROOT/src named as the root: the checkout is ROOT (its tests/, benchmark/, conf/ live there)
        root = root.parent
    why = "--flaggems-layout"
    if layout == "auto":
        layout, why = _detected(root, package)
    if layout not in LAYOUTS:
        raise InputError(None, None, f"unknown layout {layout!r}; expected auto, {' or '.join(LAYOUTS)}")
    return Checkout(root=root, package=package, layout=layout, why=why)


def _detected(root: Path, package: Path) -> tuple[str, str]:
    """The layout the checkout uses (SPEC 5), and the file that says so."""
    if (root / "conf" / "operators.yaml").is_file():
        return "ops", "the checkout has conf/operators.yaml"
    if (package / "experimental_ops").is_dir():
        return "experimental_ops", f"the checkout has {package.name}/experimental_ops/ and no conf/operators.yaml"
    return "generated", "the checkout has neither conf/operators.yaml nor experimental_ops/"
