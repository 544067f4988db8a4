"""A crew built in a plain script, without @CrewBase (test data in the shape of a common example)."""

from pathlib import Path

import yaml
from crewai import Agent, Crew, Process, Task

here = Path(__file__).parent
agents_config = yaml.safe_load((here / "config" / "agents.yaml").read_text())
tasks_config = yaml.safe_load((here / "config" / "tasks.yaml").read_text())

spamfilter = Agent(config=agents_config["spamfilter"], allow_delegation=False, verbose=True)
writer = Agent(config=agents_config["writer"], allow_delegation=False)

task0 = Task(
    description=tasks_config["task0"]["description"],
    expected_output=tasks_config["task0"]["expected_output"],
    agent=spamfilter,
)
task1 = Task(
    description=tasks_config["task1"]["description"],
    expected_output=tasks_config["task1"]["expected_output"],
    agent=writer,
)
task2 = Task(
    description=tasks_config["task2"]["description"],
    expected_output=tasks_config["task2"]["expected_output"],
    agent=writer,
    context=[task1],
    human_input=True,
)
crew = Crew(agents=[spamfilter, writer], tasks=[task0, task1, task2], process=Process.hierarchical)
