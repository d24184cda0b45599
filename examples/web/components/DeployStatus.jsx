/** A release's state as the site shows it: which version is live, and since when. */
export default function DeployStatus({ version, state, since }) {
  const label = { succeeded: "Live", in_progress: "Deploying", failed: "Failed", rolled_back: "Rolled back" }[state];
  if (!version || !label) {
    return <p role="status">No release yet</p>;
  }
  return (
    <p role="status" data-state={state}>
      <strong>{label}</strong>: {version}
      {since ? <span> since {new Date(since).toISOString().slice(0, 10)}</span> : null}
    </p>
  );
}
