"""The two lab images, built with ``docker import`` because there is no registry here.

``ops-lab-app:1`` is a debootstrap minbase Debian with python3 and nginx-light: one image
serves both the backend and the proxy (the app code is bind-mounted read-only from the repo,
so a code change applies on the next ``up`` without a rebuild). ``ops-lab-busybox:1`` is a
2 MB image made from busybox-static, for throwaway containers in tests.

The debootstrap rootfs tarball is cached under ``<root>/cache`` so a machine that lost its
Docker images (or a re-run after ``docker image rm``) imports in seconds.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

from tests.lab.layout import APP_IMAGE, BUSYBOX_IMAGE, LAB_LABEL, SUITE, Layout
from tests.lab.system import LabError, run, say, which

DEFAULT_MIRROR = "http://deb.debian.org/debian"
APP_PACKAGES = ("python3", "nginx-light")
# Trimmed from the rootfs: nothing at run time reads them, and they are half its size.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "var/cache/apt/archives", "var/lib/apt/lists")
IMAGE_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV PYTHONUNBUFFERED=1",
    "ENV LANG=C.UTF-8",
    "WORKDIR /",
    f"LABEL {LAB_LABEL}.image=1",
]


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 .sources first, then one-line)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in re.split(r"\n\s*\n", _read(path)):
            fields = _deb822(stanza)
            suites = fields.get("suites", "").split()
            if "deb" in fields.get("types", "").split() and SUITE in suites:
                for uri in fields.get("uris", "").split():
                    if "security" not in uri:
                        return uri.rstrip("/")
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d")
                                                     .glob("*.list"))]
    for path in lists:
        for line in _read(path).splitlines():
            match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and match.group(2) == SUITE and "security" not in match.group(1):
                return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
            continue
        if ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_images(client: docker.DockerClient, layout: Layout) -> None:
    if not image_exists(client, APP_IMAGE):
        build_app_image(client, layout)
    if not image_exists(client, BUSYBOX_IMAGE):
        build_busybox_image(client)


def build_app_image(client: docker.DockerClient, layout: Layout) -> None:
    tarball = layout.cache_dir / f"app-rootfs-{SUITE}.tar"
    if not tarball.exists():
        _debootstrap(tarball)
    say(f"importing {APP_IMAGE} from {tarball}")
    client.api.import_image_from_file(str(tarball), repository=APP_IMAGE.split(":")[0],
                                      tag=APP_IMAGE.split(":")[1],
                                      changes=[*IMAGE_CHANGES, 'CMD ["python3"]'])
    if not image_exists(client, APP_IMAGE):
        raise LabError(f"docker import did not produce {APP_IMAGE}")


def _debootstrap(tarball: Path) -> None:
    if which("debootstrap") is None:
        raise LabError("debootstrap not found")
    mirror = apt_mirror()
    tarball.parent.mkdir(parents=True, exist_ok=True)
    for leftover in tarball.parent.glob("rootfs-*"):  # from a run killed mid-debootstrap
        _remove_tree(leftover)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    try:
        target = work / "rootfs"
        say(f"debootstrap {SUITE} minbase + {','.join(APP_PACKAGES)} from {mirror} "
            "(a few minutes, once)")
        run(["debootstrap", "--variant=minbase", f"--include={','.join(APP_PACKAGES)}",
             SUITE, str(target), mirror], timeout=1800)
        for rel in TRIM:
            shutil.rmtree(target / rel, ignore_errors=True)
        # The nginx package's default site would listen on :80 alongside ours; we pass our
        # own config with -c, but drop it so nothing confuses a reader of the image.
        (target / "etc/nginx/sites-enabled/default").unlink(missing_ok=True)
        partial = tarball.with_name(tarball.name + ".partial")
        say(f"packing rootfs into {tarball}")
        run(["tar", "--numeric-owner", "-C", str(target), "-cf", str(partial), "."])
        os.replace(partial, tarball)
    finally:
        _remove_tree(work)


def _remove_tree(path: Path) -> None:
    """rm -r that first unmounts what debootstrap may have left mounted inside (/proc, /sys)."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        run(["umount", "-l", point], check=False)
    shutil.rmtree(path, ignore_errors=True)


def build_busybox_image(client: docker.DockerClient) -> None:
    """A rootfs of /bin/busybox (static) and one symlink per applet, imported from memory."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise LabError("/bin/busybox not found (busybox-static)")
    applets = run([str(busybox), "--list"]).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    say(f"importing {BUSYBOX_IMAGE} ({len(applets)} applets)")
    client.api.import_image_from_data(buf.getvalue(), repository=BUSYBOX_IMAGE.split(":")[0],
                            tag=BUSYBOX_IMAGE.split(":")[1],
                            changes=[*IMAGE_CHANGES, 'CMD ["/bin/sh"]'])
    if not image_exists(client, BUSYBOX_IMAGE):
        raise LabError(f"docker import did not produce {BUSYBOX_IMAGE}")
