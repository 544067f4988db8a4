from crewai.flow import Flow, start

from poem_flow.crews.poem_crew.poem_crew import PoemCrew


class PoemFlow(Flow):
    @start()
    def write(self) -> None:
        inputs = {"subject": "tide pools", "sentence_count": 4}
        PoemCrew().crew().kickoff(inputs=inputs)
