"""What an import found, row by row: errors (nothing is written) and notices (written, with a remark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_REPORTED = 1000  # problems listed in full; the total is always counted

ERROR, NOTICE = "error", "notice"


@dataclass
class Problem:
    file: str
    line: int | None
    field: str | None
    message: str
    level: str = ERROR

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message, "level": self.level}


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    error_count: int = 0
    notice_count: int = 0

    def add(self, file: str, line: int | None, field_name: str | None, message: str, level: str = ERROR) -> None:
        if level == ERROR:
            self.error_count += 1
        else:
            self.notice_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(Problem(file, line, field_name, message, level))

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.level != ERROR, p.file, p.line or 0, p.field or ""))

    def as_json(self) -> dict[str, Any]:
        return {
            "errors": self.error_count,
            "notices": self.notice_count,
            "truncated": self.error_count + self.notice_count > len(self.problems),
            "problems": [p.as_json() for p in self.sorted_problems()],
        }
