from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task
from crewai_tools import ScrapeWebsiteTool, SerperDevTool
from pydantic import BaseModel

from job_posting.tools.custom_tool import CompanyDirectoryTool


class JobPosting(BaseModel):
    title: str
    summary: str


@CrewBase
class JobPostingCrew:
    """Writes a job posting from what a company's pages say."""

    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    @agent
    def research_agent(self) -> Agent:
        return Agent(
            config=self.agents_config["research_agent"],
            tools=[SerperDevTool(), ScrapeWebsiteTool(), CompanyDirectoryTool()],
            verbose=True,
        )

    @agent
    def writer_agent(self) -> Agent:
        return Agent(config=self.agents_config["writer_agent"], verbose=True)

    @agent
    def review_agent(self) -> Agent:
        return Agent(config=self.agents_config["review_agent"], allow_delegation=True)

    @task
    def research_company_culture_task(self) -> Task:
        return Task(config=self.tasks_config["research_company_culture_task"], agent=self.research_agent())

    @task
    def draft_job_posting_task(self) -> Task:
        return Task(
            config=self.tasks_config["draft_job_posting_task"],
            agent=self.writer_agent(),
            context=[self.research_company_culture_task()],
        )

    @task
    def review_and_edit_job_posting_task(self) -> Task:
        return Task(
            config=self.tasks_config["review_and_edit_job_posting_task"],
            agent=self.review_agent(),
            context=[self.draft_job_posting_task()],
            output_pydantic=JobPosting,
        )

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential, verbose=True)
