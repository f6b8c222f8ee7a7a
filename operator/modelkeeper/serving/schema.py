"""The model's interface: its named inputs and its output, as `schema.json` in the model directory.

The server validates every request against it, describes it in V2 metadata and
counts drift per input. It has the field names of the Model resource's
`spec.signature` (inputs with name, type, categories; output with type, classes)
and takes its capitalised type names too, so the operator can write the
resource's signature as it is; docs/serving.md shows the file.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelkeeper.profile import FeatureKind

Label = int | str | bool


def _lower(value: object) -> object:
    """`Numeric` as in the Model resource, or `numeric`: the same type."""
    return value.lower() if isinstance(value, str) else value


class OutputKind(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class InputSpec(BaseModel):
    """One input feature; a categorical one may list the only categories it accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: FeatureKind
    categories: list[str] | None = Field(
        default=None, description="Allowed values of a categorical input; others are rejected."
    )
    nullable: bool = Field(
        default=False, description="Whether null (a missing value) is accepted for this input."
    )

    @field_validator("type", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return _lower(value)

    @model_validator(mode="after")
    def _categories_only_for_categorical(self) -> InputSpec:
        if self.categories is not None and self.type is not FeatureKind.CATEGORICAL:
            raise ValueError(f"input {self.name!r}: only categorical inputs take categories")
        return self


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("type", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return _lower(value)

    type: OutputKind
    classes: list[Label] | None = Field(
        default=None, description="Class labels in the model's order; checked against the model."
    )


class ModelSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[InputSpec] = Field(min_length=1)
    output: OutputSpec

    @model_validator(mode="after")
    def _unique_names(self) -> ModelSchema:
        names = [spec.name for spec in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError("input names must be unique")
        return self

    @property
    def numeric(self) -> list[InputSpec]:
        return [spec for spec in self.inputs if spec.type is FeatureKind.NUMERIC]

    @property
    def categorical(self) -> list[InputSpec]:
        return [spec for spec in self.inputs if spec.type is FeatureKind.CATEGORICAL]
