"""`hiermusic plan`: a piece's plan without its audio, from the semantic level
alone (started here, or one already running), written as a plan file
(orchestrator/plan_file.py) to edit and render with `generate --plan`. The
plan is the one `generate` would make from the same prompt, duration and
seed: the semantic level is asked with the seed the scheduler gives it."""
from __future__ import annotations

import uuid
from pathlib import Path

import grpc

from hiermusic.orchestrator.mesh import LevelLaunch, LocalMesh, MeshError
from hiermusic.orchestrator.plan_file import DRUMS_NAMES
from hiermusic.orchestrator.song import chunk_seed
from hiermusic.services.common.limits import MAX_MESSAGE_BYTES
from hiermusic.services.common.log import call_metadata
from hiermusic.services.common.security import ClientSecurity
from hiermusic.v1 import levels_pb2, levels_pb2_grpc


class PlanCommandError(RuntimeError):
    """No plan was made; `refused` when the semantic level refused what was
    asked (exit 2), else the level could not be started or reached."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def plan_request(prompt: str, duration_s: float, seed: int,
                 plan: levels_pb2.PiecePlan | None) -> levels_pb2.PlanRequest:
    """What `generate` would ask the semantic level for the same piece."""
    return levels_pb2.PlanRequest(prompt=prompt, duration_s=duration_s, plan=plan,
                                  sampling=levels_pb2.Sampling(seed=chunk_seed(seed, 0, 0)))


def make_plan(request: levels_pb2.PlanRequest, run_dir: Path, launch: LevelLaunch | None, address: str | None,
              deadline_s: float, security: ClientSecurity | None = None) -> levels_pb2.PiecePlan:
    """The form of the plan (no semantic tokens) from the semantic level at
    `address`, or one started from `launch` in `run_dir` and stopped after;
    called with `security` (TLS and token)."""
    security = security or ClientSecurity()
    if address:
        return _ask(request, address, deadline_s, security)
    with LocalMesh(run_dir, [launch]) as mesh:
        try:
            addresses = mesh.wait_ready()
        except MeshError as err:
            raise PlanCommandError(str(err)) from None
        return _ask(request, addresses["semantic"], deadline_s, security)


def _ask(request: levels_pb2.PlanRequest, address: str, deadline_s: float,
         security: ClientSecurity) -> levels_pb2.PiecePlan:
    """PlanStream's first part, the form; the stream is then cancelled, so
    the level samples none of the tokens that only the audio needs."""
    with security.channel(address, [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]) as channel:
        stream = levels_pb2_grpc.SemanticLevelStub(channel).PlanStream(
            request, timeout=deadline_s, metadata=call_metadata(f"plan-{uuid.uuid4().hex[:8]}"))
        try:
            first = next(stream)
        except grpc.RpcError as err:
            refused = err.code() == grpc.StatusCode.INVALID_ARGUMENT
            where = "the semantic level refused the plan" if refused else f"semantic level at {address}"
            raise PlanCommandError(f"{where}: {err.code().name}: {err.details()}", refused) from None
        except StopIteration:
            raise PlanCommandError(f"semantic level at {address} sent no plan") from None
        finally:
            stream.cancel()
    if not first.HasField("form"):
        raise PlanCommandError(f"semantic level at {address} did not begin its plan with the form")
    return first.form


def form_text(plan: levels_pb2.PiecePlan) -> str:
    """The plan as a person reads it: the piece, then a line per section."""
    flags = [name.replace("_", " ") for name in ("extended_intro", "abrupt_ending") if getattr(plan, name)]
    lines = [f"{plan.duration_s:.1f} s, {plan.tempo_bpm:g} bpm, {plan.key} {plan.mode}, "
             f"drums {DRUMS_NAMES[plan.drums]}{''.join(f', {f}' for f in flags)}"]
    for i, s in enumerate(plan.sections):
        notes = [f"returns to {s.repeat_of}"] if s.repeat_of != i else []
        notes += [f"drums {DRUMS_NAMES[s.drums]}"] if s.drums else []
        notes += [name.replace("_", " ") for name in ("modal_interchange", "displacement") if getattr(s, name)]
        notes += [f'"{s.description}"'] if s.description else []
        lines.append(f"{i:3d} {s.type:10s} {s.bars:3d} bars  energy {s.energy:.2f}  "
                     f"{s.start_s:6.1f}-{s.end_s:6.1f} s  {'; '.join(notes)}".rstrip())
    return "\n".join(lines)
