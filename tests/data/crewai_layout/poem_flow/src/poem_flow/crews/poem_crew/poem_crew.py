from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task

from poem_flow.types import Poem


@CrewBase
class PoemCrew:
    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    @agent
    def poet(self) -> Agent:
        return Agent(config=self.agents_config["poet"])

    @task
    def write_poem(self) -> Task:
        return Task(config=self.tasks_config["write_poem"], agent=self.poet(), output_pydantic=Poem)

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential)
