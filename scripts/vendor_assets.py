#!/usr/bin/env python3
"""Copy the front-end files gridgov serves from node_modules into web/static/vendor.

`npm ci` installs the libraries pinned in package.json; this script copies only the
distribution files the pages load (scripts, stylesheets, the images and fonts those
stylesheets point at, and each licence) to ``web/static/vendor/<package>/``, where Flask serves
them. No page loads anything from another host (DESIGN.md), so every URL in web/assets.py must
name a file this manifest produces.

Idempotent: the tree is built in a temporary directory and swapped in whole, so running it
twice gives the same tree and a file dropped from the manifest disappears. Any missing source
path, or an installed version that differs from the pin in package.json, stops it with a
message naming the path and the command to run.

Example:
  npm ci && python scripts/vendor_assets.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
STATIC = ROOT / "web" / "static"
VENDOR = STATIC / "vendor"

# npm package -> (directory under vendor/, {source path in the package: destination path}).
# A source ending in "/" is a directory copied whole. Stylesheets keep their relative layout
# to the images and fonts they reference (leaflet.css -> images/, all.min.css -> ../webfonts/).
# Source maps are copied where the minified file names one, so devtools does not log 404s.
MANIFEST: dict[str, tuple[str, dict[str, str]]] = {
    "leaflet": ("leaflet", {
        "dist/leaflet.js": "leaflet.js",
        "dist/leaflet.js.map": "leaflet.js.map",
        "dist/leaflet.css": "leaflet.css",
        "dist/images/": "images/",
        "LICENSE": "LICENSE",
    }),
    "jquery": ("jquery", {
        "dist/jquery.min.js": "jquery.min.js",
        "LICENSE.txt": "LICENSE.txt",
    }),
    "bootstrap": ("bootstrap", {
        "dist/js/bootstrap.bundle.min.js": "js/bootstrap.bundle.min.js",
        "dist/js/bootstrap.bundle.min.js.map": "js/bootstrap.bundle.min.js.map",
        "dist/css/bootstrap.min.css": "css/bootstrap.min.css",
        "dist/css/bootstrap.min.css.map": "css/bootstrap.min.css.map",
        "LICENSE": "LICENSE",
    }),
    "@fortawesome/fontawesome-free": ("fontawesome-free", {
        "css/all.min.css": "css/all.min.css",
        "webfonts/": "webfonts/",
        "LICENSE.txt": "LICENSE.txt",
    }),
    "leaflet.awesome-markers": ("leaflet.awesome-markers", {
        "dist/leaflet.awesome-markers.js": "leaflet.awesome-markers.js",
        "dist/leaflet.awesome-markers.css": "leaflet.awesome-markers.css",
        "dist/images/": "images/",
        "LICENSE": "LICENSE",
    }),
    "leaflet.markercluster": ("leaflet.markercluster", {
        "dist/leaflet.markercluster.js": "leaflet.markercluster.js",
        "dist/leaflet.markercluster.js.map": "leaflet.markercluster.js.map",
        "dist/MarkerCluster.css": "MarkerCluster.css",
        "dist/MarkerCluster.Default.css": "MarkerCluster.Default.css",
        "MIT-LICENCE.txt": "MIT-LICENCE.txt",
    }),
    "leaflet.heat": ("leaflet.heat", {
        "dist/leaflet-heat.js": "leaflet-heat.js",
        "LICENSE": "LICENSE",
    }),
    # VectorGrid and Leaflet.draw ship no licence file; their package.json names the licence.
    "leaflet.vectorgrid": ("leaflet.vectorgrid", {
        "dist/Leaflet.VectorGrid.bundled.min.js": "Leaflet.VectorGrid.bundled.min.js",
        "package.json": "package.json",
    }),
    # The API's readable docs (/api/v1/docs), generated from the OpenAPI document.
    # the workflow diagram on /api/v1/docs: the self-contained browser build (no chunks
    # loaded from elsewhere)
    "mermaid": ("mermaid", {
        "dist/mermaid.min.js": "mermaid.min.js",
        "LICENSE": "LICENSE",
    }),
    "swagger-ui-dist": ("swagger-ui", {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui.css",
        "LICENSE": "LICENSE",
    }),
    # The grid worker's phone page (/worker, web/static/js/worker/): IndexedDB made usable
    # (idb, an ES module), geodesic distance and bearing on the phone, also offline
    # (GeographicLib's own JavaScript port), and GCJ-02/BD-09 to WGS 84 for a position typed
    # from a Chinese map app while there is no network to ask the server (gcoord).
    "idb": ("idb", {
        "build/index.js": "index.js",
        "LICENSE": "LICENSE",
    }),
    "geographiclib-geodesic": ("geographiclib-geodesic", {
        "geographiclib-geodesic.min.js": "geographiclib-geodesic.min.js",
        "LICENSE.txt": "LICENSE.txt",
    }),
    "gcoord": ("gcoord", {
        "dist/gcoord.esm-browser.prod.js": "gcoord.esm.js",
        "LICENSE": "LICENSE",
    }),
    "leaflet-draw": ("leaflet-draw", {
        "dist/leaflet.draw.js": "leaflet.draw.js",
        "dist/leaflet.draw.css": "leaflet.draw.css",
        "dist/images/": "images/",
        "package.json": "package.json",
    }),
    # The planner's page (/planner, web/static/js/planner.js): drawing and editing the draft's
    # grids. Leaflet-Geoman (MIT) rather than Leaflet.draw: it is maintained, draws lines as
    # well as polygons, and snaps what is drawn to the vertices and edges of the grids on the
    # map, so a split line or a new edge starts and ends on the outline the planner aimed at.
    # The bundle carries its Turf and polyclip dependencies; its icons are data: URIs.
    "@geoman-io/leaflet-geoman-free": ("leaflet-geoman", {
        "dist/leaflet-geoman.min.js": "leaflet-geoman.min.js",
        "dist/leaflet-geoman.min.js.map": "leaflet-geoman.min.js.map",
        "dist/leaflet-geoman.css": "leaflet-geoman.css",
        "dist/leaflet-geoman.css.map": "leaflet-geoman.css.map",
        "LICENSE": "LICENSE",
    }),
}


class VendorError(RuntimeError):
    """A file the manifest names is missing, or node_modules does not match package.json."""


def pinned_versions(package_json: Path = ROOT / "package.json") -> dict[str, str]:
    """The exact versions package.json pins, by package name."""
    return json.loads(package_json.read_text(encoding="utf-8"))["dependencies"]


def _check_version(package: str, pinned: dict[str, str]) -> None:
    if package not in pinned:
        raise VendorError(f"{package} is in the vendor manifest but not in package.json")
    installed_json = NODE_MODULES / package / "package.json"
    if not installed_json.is_file():
        raise VendorError(f"{installed_json} is missing: run `npm ci` first")
    installed = json.loads(installed_json.read_text(encoding="utf-8"))["version"]
    if installed != pinned[package]:
        raise VendorError(
            f"node_modules has {package} {installed} but package.json pins "
            f"{pinned[package]}: run `npm ci`"
        )


def _copy(source: Path, dest: Path) -> int:
    if source.is_dir():
        files = [p for p in sorted(source.rglob("*")) if p.is_file()]
        if not files:
            raise VendorError(f"{source} is empty")
        for path in files:
            _copy(path, dest / path.relative_to(source))
        return len(files)
    if not source.is_file():
        raise VendorError(
            f"{source} is missing: the package layout changed, update MANIFEST in {__file__}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return 1


def vendor(target: Path = VENDOR) -> int:
    """Rebuild ``target`` from node_modules per MANIFEST; returns the number of files copied."""
    pinned = pinned_versions()
    unlisted = sorted(set(pinned) - set(MANIFEST))
    if unlisted:
        raise VendorError(
            f"package.json pins {', '.join(unlisted)} but MANIFEST copies nothing from it"
        )
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    count = 0
    try:
        for package, (directory, files) in MANIFEST.items():
            _check_version(package, pinned)
            for source, dest in files.items():
                source_path = NODE_MODULES / package / source.rstrip("/")
                count += _copy(source_path, building / directory / dest.rstrip("/"))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    # Swap the finished tree in, so a failed run never leaves a half-copied vendor/ behind.
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    building.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return count


def main() -> int:
    try:
        count = vendor()
    except VendorError as exc:
        print(f"vendor_assets: {exc}", file=sys.stderr)
        return 1
    where = VENDOR.relative_to(ROOT)
    print(f"vendor_assets: {count} files from {len(MANIFEST)} packages in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
