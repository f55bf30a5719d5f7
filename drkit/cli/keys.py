"""`drkit keys …`: escrow a policy's repository passwords to recovery keys, and recover them."""

from __future__ import annotations

from pathlib import Path

import click

from drkit.cli.app import App, complete_policy, pass_app


@click.group()
def keys() -> None:
    """Key escrow: repository passwords sealed to recovery keys (age), kept in each bucket."""


@keys.command("escrow")
@click.argument("name", shell_complete=complete_policy)
@click.option("--recipient", "recipients", multiple=True, required=True, metavar="PUBLIC_KEY",
              help="age public key (age1…) or SSH public key to seal the password to; repeat for several.")
@click.option("--repository", metavar="REPO", help="Only this repository of the policy (default: every one).")
@pass_app
def keys_escrow(app: App, name: str, recipients: tuple[str, ...], repository: str | None) -> None:
    """Seal each repository's current password to the recovery keys (age format) and store it in the
    repository's bucket as drkit-escrow/NAME/REPO.age. `age -d -i IDENTITY` opens it without drkit.
    Run it again after changing a password or the recovery keys. A password that does not open its
    (initialized) repository is refused, exit 2, and nothing is escrowed."""
    from drkit.jobs.key_escrow import escrow_passwords

    for done in escrow_passwords(app.workspace, app.policy(name).policy, recipients, repository):
        click.echo(done.line())


@keys.command("recover")
@click.argument("name", shell_complete=complete_policy)
@click.option("--identity", required=True, type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="The recovery identity: an age identity file (age-keygen) or an OpenSSH private key.")
@click.option("--repository", metavar="REPO", help="Which repository of the policy (default: the first).")
@click.option("--to", "to", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="Where to write the password (default: the repository's password_file).")
@click.option("--force", is_flag=True, help="Replace an existing password file that holds a different password.")
@pass_app
def keys_recover(app: App, name: str, identity: Path, repository: str | None, to: Path | None, force: bool) -> None:
    """Fetch the escrowed password from the repository's bucket, open it with the recovery identity and
    write the password file (0600). Exit 2 when there is no escrow or the file holds another password,
    4 when the identity does not open the escrow."""
    from drkit.jobs.key_escrow import recover_password

    click.echo(recover_password(app.workspace, app.policy(name).policy, identity, repository=repository,
                                to=to, force=force).line())
