"""Print the schema's SDL: `python -m app.graphql.export > graphql/schema.graphql`."""

from __future__ import annotations

import sys

from app.config import Settings


def sdl() -> str:
    """The schema as SDL, with introspection settings that do not affect its shape."""
    from app.graphql.schema import build_schema

    return build_schema(Settings(env="development")).as_str() + "\n"


if __name__ == "__main__":
    sys.stdout.write(sdl())
