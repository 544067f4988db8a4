from job_posting.crew import JobPostingCrew


def run() -> None:
    inputs = {
        "company_domain": "example.com",
        "company_description": "a small maker of garden tools",
        "hiring_needs": "a support engineer",
    }
    JobPostingCrew().crew().kickoff(inputs=inputs)
