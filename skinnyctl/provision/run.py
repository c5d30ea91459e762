"""``skinnyctl provision`` and ``skinnyctl templates export``: glue between the CLI and the
renderer/writer, returning what to print so the CLI stays thin."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from skinnyctl.errors import UserError
from skinnyctl.provision import writer
from skinnyctl.provision.audit import Audit, audit
from skinnyctl.provision.dhcp import FILENAMES, FLAVOURS, render_dhcp, router_hint
from skinnyctl.provision.render import BUILTIN_TEMPLATES, Renderer
from skinnyctl.site.hostnet import HostNetwork
from skinnyctl.site.model import Site

Echo = Callable[[str], None]


def _review(
    site: Site,
    renderer: Renderer,
    files: dict[str, bytes],
    *,
    strict: bool,
    network: HostNetwork | None,
    local_only: bool,
    warn: Echo,
    action: str,
) -> Audit:
    """Print the renderer's and the audit's warnings; with ``strict`` they stop ``action``."""
    found = audit(site, renderer.root, files, network=network, local_only=local_only)
    warnings = [*renderer.warnings, *map(str, found.warnings)]
    for w in warnings:
        warn(f"warning: {w}")
    if strict and warnings:
        n = len(warnings)
        raise UserError(f"{n} warning{'s' if n != 1 else ''} and --strict: {action}")
    return found


def check(
    site: Site,
    *,
    strict: bool = False,
    network: HostNetwork | None = None,
    warn: Echo = print,
) -> None:
    """``skinnyctl check`` past the loader: render in memory (template, firmware errors) and
    warn about what phones would trip on (unreachable addresses, missing locale folders...)."""
    renderer = Renderer(site)
    files = renderer.render_all()
    _review(
        site,
        renderer,
        files,
        strict=strict,
        network=network,
        local_only=False,
        warn=warn,
        action="the site is not ready",
    )


def provision(
    site: Site,
    *,
    out: Path | None = None,
    dry_run: bool = False,
    diff: bool = False,
    dhcp: Sequence[str] = (),
    dhcp_out: Path | None = None,
    echo: Echo = print,
    warn: Echo = print,
    strict: bool = False,
    network: HostNetwork | None = None,
    local_only: bool = False,
) -> writer.Plan:
    """Render everything, then (unless ``dry_run``) write what changed. Returns the TFTP plan.

    Warnings (see :mod:`skinnyctl.provision.audit`) are printed first; ``strict`` makes them
    errors, and nothing is written. ``local_only`` (the demo): no address checks."""
    root = site.resolve(site.server.tftp_root)
    target = out if out is not None else root
    renderer = Renderer(site, root=root)
    files = renderer.render_all()  # all or nothing: an error here writes nothing
    flavours = list(dhcp) or list(site.dhcp.flavours)
    for f in flavours:
        if f not in FLAVOURS:
            raise UserError(f"unknown DHCP server '{f}': choose from {', '.join(FLAVOURS)}")
    dhcp_texts = {f: render_dhcp(site, f) for f in dict.fromkeys(flavours)}
    found = _review(
        site,
        renderer,
        files,
        strict=strict,
        network=network,
        local_only=local_only,
        warn=warn,
        action="nothing written",
    )

    plans = [writer.plan(target, files)]
    if dhcp_texts and dhcp_out is not None:
        plans.append(
            writer.plan(dhcp_out, {FILENAMES[f]: t.encode() for f, t in dhcp_texts.items()})
        )
    for p in plans:
        if diff:
            text = p.diff()
            if text:
                echo(text.rstrip("\n"))
        for k in p.kept:
            warn(f"warning: {p.out_dir / k} was generated earlier and edited since: left alone")
        if dry_run:
            echo(p.summary())
        else:
            done = writer.apply(p)
            echo(
                f"{p.out_dir}: {len(p.add)} added, {len(p.change)} changed, "
                f"{len(p.remove)} removed, {len(p.unchanged)} unchanged"
                + ("" if done else " (nothing written)")
            )
    if dhcp_texts and dhcp_out is None and not dhcp:
        echo(
            f"DHCP configs ({', '.join(dhcp_texts)}): print them with --dhcp NAME or "
            "write them with --dhcp-out DIR"
        )
    elif dhcp_texts and dhcp_out is None:
        for f, text in dhcp_texts.items():
            echo(f"# ---- {FILENAMES[f]} ({f}) ----")
            echo(text.rstrip("\n"))
    if not flavours:
        try:
            echo(router_hint(site))
        except UserError:
            pass  # no address phones can reach: nothing sensible to suggest
    for line in found.report(site):
        echo(line)
    return plans[0]


def export_templates(directory: Path, *, force: bool = False) -> list[Path]:
    """Copy the built-in templates into ``directory`` as a starting point for templates_dir."""
    sources = sorted(p for p in BUILTIN_TEMPLATES.rglob("*.j2") if p.is_file())
    targets = [directory / p.relative_to(BUILTIN_TEMPLATES) for p in sources]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise UserError(
            f"{existing[0]} exists ({len(existing)} of the templates do): "
            "use --force to overwrite, or export into an empty directory"
        )
    for src, dst in zip(sources, targets, strict=True):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return targets
