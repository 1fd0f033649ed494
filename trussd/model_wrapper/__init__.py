"""trussd.model_wrapper: load a Truss ``Model`` class, check its contract, run its lifecycle
and its calls."""

from trussd.model_wrapper.contract import ArgMode, MethodInfo, ModelContract, check_contract
from trussd.model_wrapper.secrets import Secrets
from trussd.model_wrapper.state import LEGAL_TRANSITIONS, Lifecycle, ModelState
from trussd.model_wrapper.streams import ChunkStream
from trussd.model_wrapper.wrapper import ModelWrapper

__all__ = [
    "LEGAL_TRANSITIONS",
    "ArgMode",
    "ChunkStream",
    "Lifecycle",
    "MethodInfo",
    "ModelContract",
    "ModelState",
    "ModelWrapper",
    "Secrets",
    "check_contract",
]
