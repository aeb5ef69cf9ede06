"""``arbiter dead-letter list | show | requeue | purge``: dead letters are recoverable.

A thin layer over the Arbiter's dead-letter methods (``dead_letters``, ``dead_letter``,
``requeue_dead_letters``, ``purge_dead_letters``). An ID is a task id or a message id.
"""

from __future__ import annotations

import json
import sys

import click

from arbiter_core.cli.group import (
    answered_early,
    arbiter_for,
    broker_option,
    cli,
    echo_json,
    json_option,
    table,
)
from arbiter_core.cli.inspect_commands import shorten, when
from arbiter_core.inspection import DeadLetterInfo

SHOWN_REASON = 60
"""Characters of a reason ``list`` shows (``show`` and ``--json`` show it whole)."""

queue_option = click.option("--queue", "-q", default=None, help="Only this queue's dead letters.")


@cli.group("dead-letter")
def dead_letter() -> None:
    """Inspect, requeue and purge the messages that went to the dead letters."""


@dead_letter.command("list")
@queue_option
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@broker_option
@json_option
@click.pass_context
def list_letters(
    ctx: click.Context, queue: str | None, limit: int, broker: str | None, as_json: bool
) -> None:
    """List dead letters, oldest first: id, task, queue, reason, deliveries, when (per queue)."""
    with arbiter_for(ctx, broker) as arbiter:
        letters = arbiter.dead_letters(queue, limit=limit)
    document = [letter.as_dict() for letter in letters]
    if answered_early(as_json, document, letters, "no dead letters"):
        return
    header = ["ID", "TASK", "QUEUE", "REASON", "DELIVERIES", "DEAD AT"]
    rows = [
        [
            letter.task_id or letter.message_id,
            letter.task or "(undecodable)",
            letter.queue,
            shorten(letter.reason, SHOWN_REASON),
            str(letter.deliveries),
            when(letter.dead_at),
        ]
        for letter in letters
    ]
    click.echo(table(header, rows, indent=""))


@dead_letter.command("show")
@click.argument("letter_id", metavar="ID")
@queue_option
@broker_option
@json_option
@click.pass_context
def show(
    ctx: click.Context, letter_id: str, queue: str | None, broker: str | None, as_json: bool
) -> None:
    """Show one dead letter, its message decoded (or its raw bytes, shown safely)."""
    with arbiter_for(ctx, broker) as arbiter:
        letter = arbiter.dead_letter(letter_id, queue)
    if letter is None:
        raise click.ClickException(f"no dead letter has the id {letter_id!r}")
    if as_json:
        echo_json(letter.as_dict())
        return
    click.echo(_describe(letter))


def _describe(letter: DeadLetterInfo) -> str:
    lines = [
        f"message id:  {letter.message_id}",
        f"task id:     {letter.task_id or '-'}",
        f"queue:       {letter.queue}",
        f"reason:      {letter.reason}",
        f"deliveries:  {letter.deliveries}",
        f"dead at:     {when(letter.dead_at)}",
    ]
    if letter.envelope is None:
        lines += [
            f"undecodable: {letter.undecodable}",
            f"raw:         {letter.raw}",
        ]
    else:
        envelope = letter.envelope
        lines += [
            f"task:        {envelope.get('task')}",
            f"args:        {json.dumps(envelope.get('args'), default=repr)}",
            f"kwargs:      {json.dumps(envelope.get('kwargs'), default=repr)}",
            f"attempt:     {envelope.get('attempt')}",
            f"submitted:   {when(envelope.get('created_at'))}",
        ]
        if envelope.get("headers"):
            lines.append(f"headers:     {json.dumps(envelope['headers'], default=repr)}")
    return "\n".join(lines)


@dead_letter.command("requeue")
@click.argument("letter_ids", metavar="ID...", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Requeue every dead letter.")
@queue_option
@broker_option
@json_option
@click.pass_context
def requeue(
    ctx: click.Context,
    letter_ids: tuple[str, ...],
    everything: bool,
    queue: str | None,
    broker: str | None,
    as_json: bool,
) -> None:
    """Put dead letters back on their queues to run again (IDs, or --all).

    A requeued task keeps its id and gets its deliveries afresh; exit 1 if some ID
    was not a dead letter.
    """
    if bool(letter_ids) == everything:
        raise click.UsageError("give the IDs to requeue, or --all (not both)")
    with arbiter_for(ctx, broker) as arbiter:
        requeued = arbiter.requeue_dead_letters(queue, None if everything else letter_ids)
    missing = [i for i in letter_ids if not any(letter.matches(i) for letter in requeued)]
    if as_json:
        echo_json({"requeued": [letter.as_dict() for letter in requeued], "not_found": missing})
    else:
        for letter in requeued:
            shown = letter.task_id or letter.message_id
            click.echo(f"requeued {shown} ({letter.task or 'undecodable'}) on {letter.queue!r}")
        for letter_id in missing:
            click.echo(f"not a dead letter: {letter_id}", err=True)
        if not requeued and not missing:
            click.echo("no dead letters")
    if missing:
        sys.exit(1)


@dead_letter.command("purge")
@queue_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@broker_option
@json_option
@click.pass_context
def purge(
    ctx: click.Context, queue: str | None, yes: bool, broker: str | None, as_json: bool
) -> None:
    """Drop dead letters for good (of one queue, or all). Asks first, unless --yes."""
    where = f"queue {queue!r}" if queue else "every queue"
    with arbiter_for(ctx, broker) as arbiter:
        if not yes:
            count = sum(
                info.dead for info in arbiter.queues().values() if queue in (None, info.name)
            )
            click.confirm(f"Drop {count} dead letter(s) of {where} for good?", abort=True)
        dropped = arbiter.purge_dead_letters(queue)
    if as_json:
        echo_json({"queue": queue, "purged": dropped})
    else:
        click.echo(f"purged {dropped} dead letter(s) of {where}")
