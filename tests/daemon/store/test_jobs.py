"""The jobs repository (daemon/store/jobs.py): enqueue, claim, complete, fail and retry,
cancel, release, requeue after a crash; claims taken once under concurrency.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

import threading
from datetime import timedelta, timezone

import pytest

from daemon.store import INTERRUPTED, JobStatus, NotFoundError, Store
from gladtui.shapes import TaskStatus
from tests.daemon.store.helpers import T0, FakeClock, new_task


def test_enqueue_records_a_pending_job(task_store: Store) -> None:
    job = task_store.jobs.enqueue("generate", "a", {"count": 3, "prompt": "müffins"})
    assert (job.kind, job.task_id, job.status, job.attempts, job.max_attempts) == (
        "generate",
        "a",
        JobStatus.PENDING,
        0,
        3,
    )
    assert job.payload == {"count": 3, "prompt": "müffins"}
    assert job.run_after == job.created_at == T0 and job.last_error is None
    assert task_store.jobs.get(job.id) == job
    assert task_store.jobs.get(job.id + 100) is None
    with pytest.raises(NotFoundError, match="ghost"):
        task_store.jobs.enqueue("generate", "ghost", {})
    with pytest.raises(ValueError, match="max_attempts"):
        task_store.jobs.enqueue("generate", "a", {}, max_attempts=0)
    assert task_store.jobs.enqueue("cleanup", None, {}).task_id is None


def test_enqueue_many_queues_one_job_per_task_in_order(task_store: Store) -> None:
    task_store.jobs.enqueue_many("generate", [("a", {"count": 1}), ("b", {"count": 2})])
    first = task_store.jobs.claim(["generate"])
    second = task_store.jobs.claim(["generate"])
    assert first is not None and second is not None
    assert [(j.task_id, j.payload, j.max_attempts) for j in (first, second)] == [
        ("a", {"count": 1}, 3),
        ("b", {"count": 2}, 3),
    ]
    with pytest.raises(NotFoundError):
        task_store.jobs.enqueue_many("generate", [("a", {}), ("ghost", {})])
    assert task_store.jobs.claim(["generate"]) is None  # nothing of the refused batch stayed


def test_claim_takes_the_oldest_due_job_of_the_wanted_kinds(
    task_store: Store, clock: FakeClock
) -> None:
    jobs = task_store.jobs
    later = jobs.enqueue("generate", "a", {}, run_after=T0 + timedelta(seconds=30))
    first = jobs.enqueue("generate", "b", {})
    publish = jobs.enqueue("publish", "a", {})
    second = jobs.enqueue("generate", "a", {})
    clock.advance(1)
    claimed = jobs.claim(["generate"])
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts) == (first.id, JobStatus.RUNNING, 1)
    assert claimed.updated_at == T0 + timedelta(seconds=1)
    assert jobs.claim("generate") == jobs.get(second.id)  # a bare str is one kind
    assert jobs.claim(["generate"]) is None  # `later` is not due yet
    assert jobs.claim([]) is None
    assert jobs.claim(["publish", "generate"]).id == publish.id  # type: ignore[union-attr]
    clock.advance(30)
    assert jobs.claim(["generate"]).id == later.id  # type: ignore[union-attr]
    assert jobs.claim(["generate", "publish"]) is None


def test_run_after_accepts_aware_datetimes(task_store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    aware = (T0 + timedelta(hours=2)).replace(tzinfo=plus_two)  # the same instant as T0
    assert task_store.jobs.enqueue("generate", "a", {}, run_after=aware).run_after == T0


def test_complete_and_fail_with_retries_up_to_max_attempts(
    task_store: Store, clock: FakeClock
) -> None:
    jobs = task_store.jobs
    done = jobs.enqueue("publish", "a", {})
    assert jobs.claim(["publish"]) is not None
    assert jobs.complete(done.id).status is JobStatus.DONE
    assert jobs.claim(["publish"]) is None

    job = jobs.enqueue("generate", "b", {}, max_attempts=2)
    jobs.claim(["generate"])
    retry_at = clock.now + timedelta(seconds=10)
    failed_once = jobs.fail(job.id, "timeout", retry_at=retry_at)
    assert (failed_once.status, failed_once.run_after, failed_once.last_error) == (
        JobStatus.PENDING,
        retry_at,
        "timeout",
    )
    assert jobs.claim(["generate"]) is None  # not before retry_at
    clock.advance(10)
    again = jobs.claim(["generate"])
    assert again is not None and again.attempts == 2
    final = jobs.fail(job.id, "timeout again", retry_at=clock.now)  # no attempts left
    assert (final.status, final.last_error) == (JobStatus.FAILED, "timeout again")
    assert jobs.claim(["generate"]) is None

    no_retry = jobs.enqueue("generate", "b", {})
    jobs.claim(["generate"])
    assert jobs.fail(no_retry.id, "bad prompt", retry_at=None).status is JobStatus.FAILED
    with pytest.raises(NotFoundError, match=r"^no job 10000$"):
        jobs.complete(10_000)
    with pytest.raises(NotFoundError, match=r"^no job 10000$"):
        jobs.fail(10_000, "x", retry_at=None)


def test_cancel_for_task_and_pending_for_task(task_store: Store) -> None:
    jobs = task_store.jobs
    running = jobs.enqueue("generate", "a", {})
    jobs.claim(["generate"])
    pending = jobs.enqueue("generate", "a", {})
    publish = jobs.enqueue("publish", "a", {})
    finished = jobs.enqueue("publish", "a", {})
    other = jobs.enqueue("generate", "b", {})
    jobs.claim(["publish"])
    jobs.complete(publish.id)
    assert [j.id for j in jobs.pending_for_task("a")] == [running.id, pending.id, finished.id]
    assert [j.id for j in jobs.pending_for_task("a", kind="publish")] == [finished.id]

    cancelled = jobs.cancel_for_task("a", kind="generate")
    assert [(j.id, j.status) for j in cancelled] == [
        (running.id, JobStatus.CANCELLED),
        (pending.id, JobStatus.CANCELLED),
    ]
    # A worker finishing a cancelled job cannot bring it back.
    assert jobs.complete(running.id).status is JobStatus.CANCELLED
    assert jobs.fail(running.id, "x", retry_at=None).status is JobStatus.CANCELLED
    assert [j.id for j in jobs.cancel_for_task("a")] == [finished.id]
    assert jobs.get(publish.id).status is JobStatus.DONE  # type: ignore[union-attr]
    assert jobs.pending_for_task("a") == []
    assert [j.id for j in jobs.pending_for_task("b")] == [other.id]


def test_requeue_running_after_a_crash(task_store: Store, clock: FakeClock) -> None:
    jobs = task_store.jobs
    retryable = jobs.enqueue("generate", "a", {}, max_attempts=3)
    last_try = jobs.enqueue("generate", "b", {}, max_attempts=1)
    untouched = jobs.enqueue("publish", "a", {})
    jobs.claim(["generate"])
    jobs.claim(["generate"])
    later = clock.advance(60)
    requeued = jobs.requeue_running()
    assert [(j.id, j.status) for j in requeued] == [
        (retryable.id, JobStatus.PENDING),
        (last_try.id, JobStatus.FAILED),
    ]
    assert requeued[0].run_after == later and requeued[0].attempts == 1
    assert requeued[1].last_error == INTERRUPTED
    assert jobs.get(untouched.id).status is JobStatus.PENDING  # type: ignore[union-attr]
    assert jobs.requeue_running() == []
    counts = jobs.count_by_status()
    assert counts[JobStatus.PENDING] == 2 and counts[JobStatus.FAILED] == 1
    assert counts[JobStatus.RUNNING] == 0


def test_a_job_given_up_at_start_fails_its_waiting_task_unless_work_remains(
    store: Store,
) -> None:
    jobs = store.jobs
    store.tasks.create_many([new_task("lone"), new_task("more"), new_task("done")])
    store.tasks.set_status("done", TaskStatus.REVIEW)
    for task_id in ("lone", "more", "done"):
        jobs.enqueue("generate", task_id, {}, max_attempts=1)
        jobs.claim(["generate"])
    jobs.enqueue("generate", "more", {})  # other work still queued for it
    jobs.requeue_running()
    lone, more, done = (store.tasks.get(task_id) for task_id in ("lone", "more", "done"))
    assert lone is not None and lone.status is TaskStatus.FAILED
    assert lone.error == (
        "gave up its generate job: the daemon stopped during each of its 1 attempt(s); try again"
    )
    assert more is not None and (more.status, more.error) == (TaskStatus.QUEUED, None)
    assert done is not None and done.status is TaskStatus.REVIEW  # not waiting: left alone


def test_enqueue_many_takes_one_attempt_and_refuses_none(task_store: Store) -> None:
    task_store.jobs.enqueue_many("generate", [("a", {})], max_attempts=1)
    job = task_store.jobs.claim(["generate"])
    assert job is not None and job.max_attempts == 1
    with pytest.raises(ValueError, match="max_attempts must be at least 1, got 0"):
        task_store.jobs.enqueue_many("generate", [("a", {})], max_attempts=0)
    with pytest.raises(NotFoundError, match="tasks to queue 'generate' jobs for do not exist"):
        task_store.jobs.enqueue_many("generate", [("a", {}), ("ghost", {})])


def test_release_hands_a_running_job_back_without_using_an_attempt(
    task_store: Store, clock: FakeClock
) -> None:
    jobs = task_store.jobs
    only_try = jobs.enqueue("generate", "a", {}, max_attempts=1)
    claimed = jobs.claim(["generate"])
    assert claimed is not None and claimed.attempts == 1
    later = clock.advance(5)
    released = jobs.release(only_try.id)
    assert (released.status, released.attempts, released.run_after) == (
        JobStatus.PENDING,
        0,
        later,
    )
    again = jobs.claim(["generate"])  # a stop never uses up the job's single attempt
    assert again is not None and again.id == only_try.id
    jobs.complete(only_try.id)
    assert jobs.release(only_try.id).status is JobStatus.DONE  # only running jobs move


def test_concurrent_claims_take_each_job_exactly_once(task_store: Store) -> None:
    total = 120
    with task_store.transaction():
        for n in range(total):
            task_store.jobs.enqueue("generate", "a", {"n": n})
    start = threading.Barrier(4)
    claimed: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            start.wait()
            while (job := task_store.jobs.claim(["generate"])) is not None:
                claimed[slot].append(job.id)
                task_store.jobs.complete(job.id)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    every = [job_id for ids in claimed for job_id in ids]
    assert len(every) == total and len(set(every)) == total
    assert task_store.jobs.count_by_status()[JobStatus.DONE] == total


def test_an_idle_claim_commits_nothing(store: Store, clock: FakeClock) -> None:
    store.tasks.create(new_task())
    store.jobs.enqueue("generate", "muffins-001", {}, run_after=clock() + timedelta(seconds=60))
    commits: list[None] = []
    store.add_commit_listener(lambda: commits.append(None))
    assert store.jobs.claim(["generate"]) is None  # not due yet
    assert store.jobs.claim(["publish"]) is None  # no such job
    assert commits == []
    clock.advance(61)
    claimed = store.jobs.claim(["generate"])
    assert claimed is not None and len(commits) == 1
    store.jobs.complete(claimed.id)
    store.jobs.enqueue("publish", "muffins-001", {})
    assert len(store.jobs.cancel_for_task("muffins-001")) == 1
    commits.clear()
    # Jobs done or cancelled, due long ago, are nothing to claim: still no commit.
    assert store.jobs.claim(["generate", "publish"]) is None
    assert commits == []
