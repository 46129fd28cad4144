"""download_file and attach_file: files in and out of the run folder."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from operator_agent.skills import SkillContext, skill

from ._page import dismiss, settle

__all__ = ["DownloadedFile", "attach_file", "download_file"]


class DownloadedFile(BaseModel):
    """A file the page gave us.

    Attributes:
        path: Where it was saved (inside the run folder).
        filename: Its file name.
        size: Its size in bytes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    filename: str
    size: int


@skill
async def download_file(ctx: SkillContext, *, link_text: str, timeout_s: float = 30.0) -> DownloadedFile:
    """Click the link or button that downloads a file (such as "Export CSV") and keep the file.

    Args:
        link_text: The text (or accessible name) of the link or button.
        timeout_s: How long to wait for the download to start and finish.
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    path = await ctx.download(await ctx.locate(name=link_text), timeout_s=timeout_s)
    return DownloadedFile(path=str(path), filename=path.name, size=path.stat().st_size)


@skill
async def attach_file(ctx: SkillContext, *, label: str, path: str) -> str:
    """Attach a file to the file field with this label (or to the button that opens a file picker).

    Returns the file name(s) the field shows. (Named attach_file because ``upload_file`` is the
    built-in action that uploads to an element ref.)

    Args:
        label: The label of the file field, such as "Invoice PDF".
        path: The file, relative to the run folder (or an absolute path inside an upload folder).
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    outcome = await ctx.upload(await ctx.locate(name=label), path)
    return outcome.field_value or ""
