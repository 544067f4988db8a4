"""Test Scriptorium workflows offline: model doubles that stand where the served model goes.

    from scriptorium import Project
    from scriptorium.testing import SchemaModel

    project = Project.open("my-project", model=SchemaModel())
    outcome = await project.run("my-workflow", {"topic": "tides"})

`SchemaModel` answers any output schema with valid data; `FunctionModel` answers with a function
of the request. See docs/testing.md.
"""

from .models import FunctionModel, ModelCall, ModelDouble, SchemaModel
from .schema_data import SchemaDataError, schema_data

__all__ = ["FunctionModel", "ModelCall", "ModelDouble", "SchemaDataError", "SchemaModel", "schema_data"]
