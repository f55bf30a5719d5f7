"""`drkit completion bash|zsh|fish`: the shell's completion script, from click's completion API.

The script calls drkit back with `_DRKIT_COMPLETE` set; click then completes commands, options,
choices (`report --format`) and, through `complete_policy` (drkit/cli/app.py), policy names.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  drkit completion bash > ~/.local/share/bash-completion/completions/drkit
    zsh:   drkit completion zsh > "${fpath[1]}/_drkit"
    fish:  drkit completion fish > ~/.config/fish/completions/drkit.fish
    """
    root = ctx.find_root()
    script = get_completion_class(shell)(root.command, {}, root.info_name or "drkit", "_DRKIT_COMPLETE")
    click.echo(script.source())
