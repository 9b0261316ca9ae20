/** Queues are inspected in Bull Board, served by the control plane at admin/queues. */
const QUEUES = ['downloads', 'repairs'];

export default function JobsPage() {
  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs</h1>
      <p>Download and repair jobs run on BullMQ queues; Bull Board shows them with their attempts and errors.</p>
      <ul>
        <li>
          <a href="admin/queues" target="_blank" rel="noreferrer">
            All queues in Bull Board
          </a>
        </li>
        {QUEUES.map((q) => (
          <li key={q}>
            <a href={`admin/queues/queue/${q}`} target="_blank" rel="noreferrer">
              Queue {q}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
