from typing import Literal, Optional

from pydantic import BaseModel, Field


class Line(BaseModel):
    text: str = Field(description="One line of the poem", max_length=120)


class Poem(BaseModel):
    """A short poem and its mood."""

    title: str
    lines: list[Line] = Field(min_length=2, max_length=8)
    mood: Literal["calm", "joyful", "sad"]
    dedication: Optional[str] = None
