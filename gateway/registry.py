"""The model registry: which model kinds a gateway runs, and the slots detectors hold them in.

Adding a model kind means writing its loader in its domain package and adding one `ModelKind` to
`KINDS`; trust (verification), the audit log and hot-swap then handle it with no further edit.
Detectors hold a `Slot`; hot reload swaps the model inside it, so their state is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from gateway.air.correction import PmCorrector
from gateway.air.humidity import MODEL_FILE as CORRECTOR_FILE
from gateway.air.humidity import load_signed as load_corrector
from gateway.flood.nowcast import MODEL_FILE as NOWCAST_FILE
from gateway.flood.nowcast import Nowcaster
from gateway.flood.nowcast import load_signed as load_nowcaster
from gateway.inference.slots import Slot
from gateway.messages import ModelRef
from gateway.security.signing import VerifiedManifest
from gateway.vision.fall import MODEL_FILE as FALL_FILE
from gateway.vision.fall import FallModel
from gateway.vision.fall import load_signed as load_fall_model
from gateway.vision.person_model import PersonModel, load_person_model

M = TypeVar("M")
PERSON_MODELS = "person/"  # person/pose models: person/<name>.json + the ONNX file it names


@dataclass(frozen=True, slots=True)
class ModelKind(Generic[M]):
    """One kind of model: its file in the signed manifest, how it loads, and how it names itself."""

    name: str
    file: str
    load: Callable[[VerifiedManifest], M]
    ref: Callable[[M], ModelRef]
    required: bool = False  # a manifest without it is refused rather than running without the detector


CORRECTOR: ModelKind[PmCorrector] = ModelKind(
    "corrector", CORRECTOR_FILE.as_posix(), load_corrector, lambda m: m.model, required=True
)
NOWCASTER: ModelKind[Nowcaster] = ModelKind(
    "nowcaster", NOWCAST_FILE.as_posix(), load_nowcaster, lambda m: m.model
)
FALL: ModelKind[FallModel] = ModelKind("fall", FALL_FILE, load_fall_model, lambda m: m.ref)
KINDS: tuple[ModelKind[Any], ...] = (CORRECTOR, NOWCASTER, FALL)


class MissingModel(LookupError):
    """A required model kind is not in the signed manifest."""


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The models a gateway runs, all from one signed manifest: by kind name, and person models."""

    by_kind: Mapping[str, object]
    people: Mapping[str, PersonModel] = field(default_factory=dict)  # by manifest path, person/*.json

    def get(self, kind: ModelKind[M]) -> M | None:
        """The model of this kind, None when the manifest lists none."""
        return cast("M | None", self.by_kind.get(kind.name))

    @property
    def corrector(self) -> PmCorrector:
        """The PM2.5 humidity corrector (required)."""
        model = self.get(CORRECTOR)
        if model is None:
            raise MissingModel(CORRECTOR.file)
        return model

    @property
    def nowcaster(self) -> Nowcaster | None:
        """The flood nowcaster, if shipped."""
        return self.get(NOWCASTER)

    @property
    def fall(self) -> FallModel | None:
        """The fall model, if shipped."""
        return self.get(FALL)

    def refs(self) -> list[ModelRef]:
        """Name and version of each model, for the audit log."""
        refs = [kind.ref(model) for kind in KINDS if (model := self.get(kind)) is not None]
        return refs + [ModelRef(p.manifest.name, p.model.version) for p in self.people.values()]


def load_model_set(verified: VerifiedManifest) -> ModelSet:
    """Every known model kind and every person/*.json the verified manifest lists."""
    by_kind: dict[str, object] = {}
    for kind in KINDS:
        if kind.file in verified.files:
            by_kind[kind.name] = kind.load(verified)
        elif kind.required:
            raise MissingModel(f"the models manifest does not list {kind.file}")
    names = sorted(p for p in verified.files if p.startswith(PERSON_MODELS) and p.endswith(".json"))
    return ModelSet(by_kind, {name: load_person_model(verified, name) for name in names})


class ModelSlots:
    """One slot per model kind the gateway started with; `swap` puts a newly verified set in them."""

    def __init__(self, models: ModelSet) -> None:
        self._slots: dict[str, Slot[Any]] = {
            kind.name: Slot(model) for kind in KINDS if (model := models.get(kind)) is not None
        }

    def slot(self, kind: ModelKind[M]) -> Slot[M] | None:
        """The slot detectors of this kind share; None when there is no such model."""
        return self._slots.get(kind.name)

    def swap(self, models: ModelSet) -> list[str]:
        """Replace each slot's model with the new set's; a kind the new set lacks keeps its model."""
        swapped = []
        for kind in KINDS:
            slot, model = self._slots.get(kind.name), models.get(kind)
            if slot is not None and model is not None:
                slot.current = model
                swapped.append(kind.name)
        return swapped
