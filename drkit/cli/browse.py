"""`drkit ls` and `drkit dump`: look into a snapshot without restoring it."""

from __future__ import annotations

import os
import sys

import click

from drkit.cli.app import App, emit_result, json_option, pass_app


@click.command("ls")
@click.argument("name")
@click.argument("snapshot", required=False, default="latest", metavar="[SNAPSHOT]")
@click.argument("path", required=False, metavar="[PATH]")
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Read this repository of the policy (a copy, when the first is lost; docs/repositories.md). "
                   "Default: the first.")
@json_option
@pass_app
def ls(app: App, name: str, snapshot: str, path: str | None, repository: str | None, as_json: bool) -> None:
    """List what a snapshot holds at and below PATH (an absolute path as backed up), as a tree with
    sizes and modification times (UTC). SNAPSHOT: latest (default), an id, or before:TIME; a
    first argument starting with / is the PATH of the latest snapshot."""
    from drkit.views.browse import list_files

    if path is None and snapshot.startswith("/"):
        snapshot, path = "latest", snapshot
    policy = app.policy(name).policy
    policy.repository_named(repository)  # an unknown name: exit 2 naming the known ones
    emit_result(list_files(app.workspace, policy, snapshot, path, repository), as_json)


@click.command("dump")
@click.argument("name")
@click.argument("snapshot", metavar="SNAPSHOT")
@click.argument("path", metavar="PATH")
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Read this repository of the policy (a copy, when the first is lost; docs/repositories.md). "
                   "Default: the first.")
@pass_app
def dump(app: App, name: str, snapshot: str, path: str, repository: str | None) -> None:
    """Write one file of a snapshot to stdout, as in `drkit dump shop latest /etc/shop.conf > shop.conf`.
    SNAPSHOT: latest, an id, or before:TIME; PATH: the file's absolute path as backed up."""
    from drkit.views.browse import dump_file

    policy = app.policy(name).policy
    policy.repository_named(repository)
    chunks = dump_file(app.workspace, policy, snapshot, path, repository)
    stdout = click.get_binary_stream("stdout")
    try:
        for chunk in chunks:
            stdout.write(chunk)
        stdout.flush()
    except BrokenPipeError:  # `drkit dump … | head`: the reader has what it wanted
        chunks.close()  # stops restic
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
