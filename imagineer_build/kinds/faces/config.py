"""The `faces` spec: which albums, how faces are found, which ones to trust, how they cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...core.kind import KindConfig


class FacesConfig(KindConfig):
    of: list[str] = Field(..., min_length=1,
                          description="album targets to scan (sources, labels, …); an image in several appears once")
    detector: Literal["hog", "cnn"] = Field(
        "hog", description="dlib's HOG detector (fast, frontal faces) or its CNN detector (slower, more poses)")
    upsample: int = Field(1, ge=0, le=3, description="times the image is doubled before detection (finds smaller faces)")
    landmarks: Literal[5, 68] = Field(5, description="landmark points per face (5 is what the embedding needs)")
    max_side: int = Field(1600, ge=64, description="longest side detection sees; boxes are in original pixels")
    threshold: float = Field(0.5, gt=0, lt=2, description=(
        "faces closer than this (128-d embedding distance) are linked into one cluster; dlib's usual "
        "same-person threshold is 0.6"))
    min_cluster: int = Field(3, ge=1, description="smaller clusters are left unclustered (unless the people file pins them)")
    min_score: float = Field(0.5, description="detections scoring below this are not trusted")
    min_face: int = Field(80, ge=1, description="faces whose box has a side shorter than this many original pixels are not trusted")
    min_sharpness: float = Field(50.0, ge=0, description=(
        "faces blurrier than this (variance of the Laplacian of the face scaled to 64x64) are not trusted"))
    people: str | None = Field(None, description=(
        "project YAML file of cluster numbers, names and corrections (`imagineer faces name|move|merge|nobody` write it)"))
    contact_sheets: bool = Field(True, description="write clusters/NNN.png: the face crops of each cluster")
