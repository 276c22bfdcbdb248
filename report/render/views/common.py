"""What every view model uses: documented fields, figures, and where the views are shown."""

from __future__ import annotations

import dataclasses

from report.render import fmt


def field(help_text: str, **kwargs):
    """A dataclass field with its ``help`` text: what the template shows from it."""
    return dataclasses.field(metadata={"help": help_text}, **kwargs)


@dataclasses.dataclass(frozen=True)
class Place:
    """Where the views are shown: what a builder needs besides the findings."""

    store_url: str = field("the store's images, relative to the HTML file: image paths start with it (the "
                           "figures folder drawn from the store, or the store itself where it holds them)")
    numbers: dict[str, int] = field("section id -> section number, for the sections shown")
    store_folder: str = field("the store itself, relative to the HTML file")


@dataclasses.dataclass(frozen=True)
class ColourScale:
    src: str = field("the colour bar image, relative to the HTML file")
    vmin: str = field("the value at the bottom of the scale, formatted")
    vmax: str = field("the value at the top of the scale, formatted")
    meaning: str = field("what the colours mean, in words (the colour map's name is not shown to readers)")


@dataclasses.dataclass(frozen=True)
class Figure:
    src: str = field("the image, relative to the HTML file")
    alt: str = field("the image's alternative text")
    caption: str = field("the caption under the image")
    scale: ColourScale | None = field("the colour scale shown beside the image; None for none", default=None)


def url(place: Place, path: str) -> str:
    """A store file's path as the HTML file links it."""
    return f"{place.store_url}/{path}"


# What each colour map the figures use looks like, for readers (never the map's name).
COLOUR_WORDS = {"RdBu_r": "blue negative, white zero, red positive",
                "viridis": "dark purple low, through green, to yellow high",
                "gray": "black low, white high",
                "inferno": "black low, through purple and orange, to pale yellow high"}


def colour_words(cmap: str) -> str:
    return COLOUR_WORDS.get(cmap, "from the bottom of the bar to its top")


def scale(place: Place, colourbar: str, vmin: float, vmax: float, cmap: str) -> ColourScale:
    return ColourScale(url(place, colourbar), fmt.number(vmin), fmt.number(vmax), colour_words(cmap))


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, with an "s" unless the count is one: "1 pair", "2 pairs"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
