"""Listing the files of a local folder or a bucket that a file source has not read yet."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def list_new_files(
    bucket_url: str, suffixes: tuple[str, ...], seen: dict[str, str]
) -> list[tuple[str, str, Any]]:
    """Files under `bucket_url` (any depth) with one of `suffixes` that `seen` has not recorded.

    `seen` maps a file URL to the modification time it had when it was read, so a file is read
    once and read again only when it is replaced. Returns (file_url, mtime, fs_client) sorted by
    path, so loads are deterministic. A local entry that cannot be examined (a dangling symlink,
    a symlink loop, no permission) is listed with `UNREADABLE_MTIME` and its error as its mtime:
    the loader's attempt to read it fails and sets it aside whole, and the rest of the folder
    still loads (listing it fails for nobody).
    """
    from dlt.common.storages.fsspec_filesystem import fsspec_filesystem, glob_files

    if "://" not in bucket_url:
        bucket_url = Path(bucket_url).resolve().as_uri()
    protocol = bucket_url.split("://", 1)[0]
    if protocol == "file":
        fs_client, _ = fsspec_filesystem(protocol)
        listing = _local_files(fs_client, bucket_url, suffixes)
    else:
        fs_client = remote_filesystem(bucket_url)
        listing = [
            (item["file_url"], str(item["modification_date"]))
            for item in glob_files(fs_client, bucket_url, "**")
            if item["file_url"].endswith(suffixes)
        ]
    new = [(url, mtime, fs_client) for url, mtime in listing if seen.get(url) != mtime]
    new.sort(key=lambda entry: entry[0])
    return new


def remote_filesystem(bucket_url: str, section: str = "segment") -> Any:
    """An authenticated fsspec client for an `s3://`, `gs://`, `az://` ... bucket, through dlt.

    Credentials come from dlt's usual places for the source, e.g.
    `SOURCES__SEGMENT__CREDENTIALS__AWS_ACCESS_KEY_ID` (README, "Running on your own data");
    a missing one, or a missing fsspec package (`pip install "dlt[gs]"`, `"dlt[az]"`), fails
    with dlt's message naming it.
    """
    from dlt.common.configuration import resolve_configuration
    from dlt.common.storages.configuration import FilesystemConfiguration
    from dlt.common.storages.fsspec_filesystem import fsspec_from_config

    config = resolve_configuration(
        FilesystemConfiguration(bucket_url=bucket_url), sections=("sources", section)
    )
    fs_client, _ = fsspec_from_config(config)
    return fs_client


UNREADABLE_MTIME = "unreadable"


def _local_files(
    fs_client: Any, bucket_url: str, suffixes: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(file_url, mtime) of a local folder, as dlt's `glob_files` names them, never raising.

    Directory symlinks are followed once (a loop is walked no further); a file entry whose
    `stat` fails gets `UNREADABLE_MTIME: <error>` so the loader sets it aside with the reason.
    """
    from dlt.common.storages.configuration import FilesystemConfiguration
    from dlt.common.storages.fsspec_filesystem import MTIME_DISPATCH

    root = FilesystemConfiguration.make_local_path(bucket_url)
    found: list[tuple[str, str]] = []
    visited: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a symlink back up the tree: walked already
            dirs[:] = []
            continue
        visited.add(real)
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(suffixes):
                continue
            path = os.path.join(folder, name)
            try:
                info = fs_client.info(path)
                url = FilesystemConfiguration.make_file_url(path)
            except (OSError, RuntimeError) as error:  # RuntimeError: pathlib's symlink loop
                url = Path(real, name).as_uri()  # the entry itself: its target is the problem
                problem = getattr(error, "strerror", None) or str(error)
                found.append((url, f"{UNREADABLE_MTIME}: {problem}"))
                continue
            if info["type"] == "directory":
                continue
            found.append((url, str(MTIME_DISPATCH["file"](info))))
    return found
