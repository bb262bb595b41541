"""Segment export use case with fakes: the chain's exactly-once progress and who is left out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.exports import ExportJob, ExportNotReady, ExportService, ExportTask
from chalicelib.exports import service as export_service
from chalicelib.profiles.ports import StoredProfile
from chalicelib.shared.clock import FakeClock


class Jobs:
    def __init__(self) -> None:
        self.items: dict[str, ExportJob] = {}

    def create(self, job: ExportJob) -> None:
        self.items[job.export_id] = job

    def get(self, export_id: str) -> ExportJob | None:
        return self.items.get(export_id)

    def recent(self, limit: int) -> list[ExportJob]:
        return sorted(self.items.values(), key=lambda j: j.export_id, reverse=True)[:limit]

    def commit(self, job: ExportJob, expected_step: int) -> bool:
        if self.items[job.export_id].step != expected_step:
            return False
        self.items[job.export_id] = job
        return True

    def mark_sent(self, export_id: str, step: int) -> None:
        if self.items[export_id].step == step:
            self.items[export_id] = replace(self.items[export_id], sent=True)


class Files:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, dict[int, bytes]] = {}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def start_upload(self, key: str) -> str:
        upload_id = f"u{len(self.uploads)}"
        self.uploads[upload_id] = {}
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        self.uploads[upload_id][number] = body
        return f"etag-{number}"

    def complete_upload(self, key: str, upload_id: str, etags: Iterable[str]) -> None:
        parts = self.uploads[upload_id]
        self.objects[key] = b"".join(parts[n] for n in range(1, len(list(etags)) + 1))

    def get_carry(self, export_id: str, step: int) -> bytes:
        return self.objects[f"carry/{export_id}/{step}"]

    def put_carry(self, export_id: str, step: int, body: bytes) -> None:
        self.objects[f"carry/{export_id}/{step}"] = body

    def delete_carry(self, export_id: str, step: int) -> None:
        self.objects.pop(f"carry/{export_id}/{step}", None)

    def download_url(self, key: str, expires_seconds: int) -> str:
        return f"https://s3.example/{key}"


class Queue:
    def __init__(self) -> None:
        self.sent: list[ExportTask] = []

    def send(self, tasks: list[ExportTask]) -> None:
        self.sent.extend(tasks)


class Members:
    def __init__(self, ids: list[str]) -> None:
        self.ids = sorted(ids)

    def sizes(self) -> dict[str, int]:
        return {"vip": len(self.ids)}

    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = self.ids.index(cursor) + 1 if cursor else 0
        page = self.ids[start : start + limit]
        more = start + limit < len(self.ids)
        return [{"profile_id": p, "entered_at": "2026-03-01T00:00:00Z"} for p in page], page[-1] if more else None


class Profiles:
    def __init__(self, ids: list[str], erased: set[str]) -> None:
        self.ids, self.erased = ids, erased

    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]:
        def stored(pid: str) -> StoredProfile:
            body = {"profile_id": pid, "email": f"{pid}@example.com", "computed": {"orders": 2, "revenue": 10.5}}
            return StoredProfile(
                pid,
                3,
                load=lambda: None,
                read=lambda: body,  # type: ignore[arg-type,return-value]
                erased_at="2026-03-01T00:00:00Z" if pid in self.erased else None,
            )

        return {pid: stored(pid) for pid in profile_ids if pid in self.ids}


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_service, "PAGE_SIZE", 2)
    monkeypatch.setattr(export_service, "MIN_PART_BYTES", 300)
    monkeypatch.setattr(export_service, "PART_BYTES", 350)
    monkeypatch.setattr(export_service, "SYNC_MAX_MEMBERS", 0)


def build(
    ids: list[str], erased: set[str] = frozenset(), members: list[str] | None = None
) -> tuple[ExportService, Jobs, Files, Queue]:
    jobs, files, queue = Jobs(), Files(), Queue()
    clock = FakeClock(datetime(2026, 3, 2, tzinfo=UTC))
    service = ExportService(jobs, files, queue, Members(members or ids), Profiles(ids, set(erased)), clock)
    return service, jobs, files, queue


def rows(files: Files, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files.objects[key].decode("utf-8-sig"))))


def drain(service: ExportService, queue: Queue, duplicate_every_step: bool = False) -> None:
    while queue.sent:
        task = queue.sent.pop(0)
        service.run(task)
        if duplicate_every_step:
            assert service.run(task) in ("duplicate", "done")


def test_a_duplicated_step_counts_nothing_twice_and_the_file_has_each_member_once(small_parts: None) -> None:
    ids = [f"p{n:02d}" for n in range(11)]
    service, jobs, files, queue = build(ids)
    job = service.start("vip")
    drain(service, queue, duplicate_every_step=True)
    done = jobs.get(job.export_id)
    assert done is not None and (done.status, done.rows) == ("finished", 11)
    assert [r["profile_id"] for r in rows(files, done.key)] == ids
    assert len(done.parts) >= 2 and not [k for k in files.objects if k.startswith("carry/")]


def test_a_step_redelivered_after_its_commit_but_before_its_continuation_sends_it_again(small_parts: None) -> None:
    service, jobs, files, queue = build([f"p{n:02d}" for n in range(6)])
    job = service.start("vip")
    first = queue.sent.pop(0)
    assert service.run(first) == "step"
    queue.sent.clear()  # the continuation was lost with the crash...
    jobs.items[job.export_id] = replace(jobs.items[job.export_id], sent=False)  # ...before it was recorded as sent
    assert service.run(first) == "resent"
    assert queue.sent == [ExportTask(job.export_id, 1)]
    assert service.run(first) == "duplicate"  # now recorded: a third delivery sends nothing


def test_a_step_ahead_of_the_chain_waits() -> None:
    service, jobs, files, queue = build(["p1"])
    jobs.create(ExportJob("ex-1", "vip", "exports/vip/ex-1.csv", "2026-03-02T00:00:00Z"))
    with pytest.raises(ExportNotReady):
        service.run(ExportTask("ex-1", 3))


def test_an_erased_or_vanished_member_is_never_exported() -> None:
    service, jobs, files, queue = build(["p1", "p2", "p3"], erased={"p2"}, members=["p1", "p2", "p3", "p4"])
    job = service.start("vip")
    assert (job.status, job.rows, job.skipped) == ("finished", 2, 2)
    assert [r["profile_id"] for r in rows(files, job.key)] == ["p1", "p3"]
    assert rows(files, job.key)[0]["revenue"] == "10.5"


def test_a_cell_a_spreadsheet_would_run_is_defused_but_phone_numbers_and_amounts_are_kept() -> None:
    from chalicelib.exports.columns import COLUMNS, member_row

    document = {
        "profile_id": "p1",
        "phone": "+33 6 12 34 56 78",
        "traits": {"first_name": '=HYPERLINK("http://x")', "last_name": "@SUM(A1)"},
        "computed": {"orders": 3, "revenue": -12.5, "last_order_at": "2026-03-01T00:00:00Z"},
        "consent": {"email": {"status": "opted_in", "at": "2026-01-01T00:00:00Z"}},
        "rfm": {"r": 5, "f": 4, "m": 3, "group": "champions"},
    }
    row = dict(zip(COLUMNS, member_row(document, "2026-03-02T00:00:00Z"), strict=True))
    assert row["phone"] == "+33 6 12 34 56 78" and row["revenue"] == "-12.5"
    assert row["first_name"] == '\'=HYPERLINK("http://x")' and row["last_name"] == "'@SUM(A1)"
    assert (row["orders"], row["email_consent"], row["rfm_group"], row["email"]) == ("3", "opted_in", "champions", "")
