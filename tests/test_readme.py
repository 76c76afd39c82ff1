"""The README documents what the code offers: every setting and every endpoint."""

from pathlib import Path

from pumpapi import settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_readme_documents_every_setting():
    for s in settings.SETTINGS:
        assert f"`{s.env}`" in README, f"README lacks {s.env}"


def test_readme_documents_every_endpoint(app):
    for path in app.extensions["pumpapi.api"].spec.to_dict()["paths"]:
        assert f"`{path}`" in README, f"README lacks {path}"


def test_readme_documents_every_channel_range():
    from pumpapi.channels import CHANNELS

    for c in CHANNELS:
        assert f"| `{c.name}` |" in README, c.name
        assert f"{c.minimum:g} to {c.maximum:g}" in README, c.name


def _architecture_paths() -> list[str]:
    """The paths of the README's architecture tree, as written (`pumpapi/` entries prefixed)."""
    block = README.split("## Architecture", 1)[1].split("```", 2)[1]
    paths, parent = [], ""
    for line in block.strip().splitlines():
        name = line.split()[0]
        if not line.startswith(" "):
            parent = name if name.endswith("/") and len(line.split()) == 1 else ""
            paths.append(name)
        else:
            paths.append(parent + name)
    return paths


def test_readme_architecture_names_every_module_and_nothing_else():
    root = Path(__file__).parents[1]
    listed = _architecture_paths()
    for path in listed:
        assert (root / path).exists(), f"README's architecture lists {path}, which is gone"
    package = root / "pumpapi"
    for entry in package.iterdir():
        if entry.name.startswith(("_", ".")) and entry.name not in ("__init__.py", "__main__.py"):
            continue
        if entry.suffix == ".py" or (entry / "__init__.py").exists():
            name = f"pumpapi/{entry.name}" + ("/" if entry.is_dir() else "")
            assert name in listed, f"README's architecture omits {name}"


def test_readme_architecture_names_every_development_tool():
    root = Path(__file__).parents[1]
    block = README.split("## Architecture", 1)[1].split("```", 2)[1]
    (line,) = [line for line in block.splitlines() if line.split()[:1] == ["devtools/"]]
    for module in (root / "pumpapi" / "devtools").glob("*.py"):
        if module.name != "__init__.py":
            assert module.name in line, f"README's architecture omits devtools/{module.name}"
