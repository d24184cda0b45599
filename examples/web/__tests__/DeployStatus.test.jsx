import { render, screen } from "@testing-library/react";
import DeployStatus from "../components/DeployStatus";

describe("DeployStatus", () => {
  it("shows the live version and the date it went live", () => {
    render(<DeployStatus version="v1.4.2" state="succeeded" since="2026-11-28T09:00:00Z" />);
    const status = screen.getByRole("status");
    expect(status.textContent).toBe("Live: v1.4.2 since 2026-11-28");
    expect(status.getAttribute("data-state")).toBe("succeeded");
  });

  it("says so when nothing was released", () => {
    render(<DeployStatus />);
    expect(screen.getByRole("status").textContent).toBe("No release yet");
  });

  it("does not invent a label for an unknown state", () => {
    render(<DeployStatus version="v1.4.2" state="exploded" />);
    expect(screen.getByRole("status").textContent).toBe("No release yet");
  });

  it("names a rollback", () => {
    render(<DeployStatus version="v1.4.1" state="rolled_back" />);
    expect(screen.getByRole("status").textContent).toBe("Rolled back: v1.4.1");
  });
});
