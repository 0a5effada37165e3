"""The embedding models Parley knows: provider, vector size and relevance thresholds.

A model's thresholds are cosine similarities: below `min_similarity` a passage is unrelated
to a question; from `faq_similarity` an FAQ question is taken to be the same question. They
differ between models (MiniLM spreads similarities wider than OpenAI's models do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.config import Settings
from app.errors import ValidationFailed

# One partial HNSW index per size (migration 0003); a model of another size cannot be used.
SUPPORTED_DIMS = (384, 768, 1024, 1536)

Provider = Literal["openai", "local"]


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """A model a workspace can embed its knowledge with."""

    name: str
    provider: Provider
    dims: int
    min_similarity: float
    faq_similarity: float
    request_dimensions: int | None = None  # sent as `dimensions` to shorten the vectors


KNOWN: dict[str, EmbeddingModel] = {
    m.name: m
    for m in (
        EmbeddingModel("all-MiniLM-L6-v2", "local", 384, 0.30, 0.85),
        EmbeddingModel("text-embedding-3-small", "openai", 1536, 0.25, 0.80),
        EmbeddingModel("text-embedding-3-large", "openai", 1536, 0.25, 0.80, 1536),
        EmbeddingModel("text-embedding-ada-002", "openai", 1536, 0.72, 0.92),
    )
}


def resolve(name: str, settings: Settings) -> EmbeddingModel:
    """The catalogue entry of `name`, including an OpenAI-compatible model configured with
    EMBEDDING_OPENAI_DIMENSIONS; a VALIDATION error for anything else."""
    found = KNOWN.get(name)
    if found is not None:
        return found
    dims = settings.embedding.openai_dimensions
    if name == settings.openai.embedding_model and dims is not None:
        if dims not in SUPPORTED_DIMS:
            raise ValidationFailed(
                f"EMBEDDING_OPENAI_DIMENSIONS must be one of {SUPPORTED_DIMS}.", field="model"
            )
        return EmbeddingModel(name, "openai", dims, 0.25, 0.80)
    raise ValidationFailed(
        f"Unknown embedding model {name!r}; choose one of {', '.join(sorted(KNOWN))}.",
        field="model",
    )


def default_model(settings: Settings) -> EmbeddingModel:
    """The model a new workspace starts with: OpenAI's when an API key is configured (or the
    provider is forced to openai), the local MiniLM model otherwise, so `make run` works
    offline."""
    from app.openai_api import configured

    provider = settings.embedding.provider
    if provider == "auto":
        provider = "openai" if configured(settings.openai) else "local"
    if provider == "openai":
        return resolve(settings.openai.embedding_model, settings)
    return resolve(settings.embedding.local_model, settings)


def available(model: EmbeddingModel, settings: Settings) -> bool:
    """True when this deployment can run the model."""
    from app.openai_api import configured

    if model.provider == "openai":
        return configured(settings.openai)
    return True
