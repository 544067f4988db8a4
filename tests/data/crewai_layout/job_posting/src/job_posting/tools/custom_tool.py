from crewai.tools import BaseTool


class CompanyDirectoryTool(BaseTool):
    name: str = "company_directory"
    description: str = "Looks a company up in an internal directory."

    def _run(self, query: str) -> str:
        return "not found"
