import DeployStatus from "../components/DeployStatus";

export default function Home() {
  return (
    <main>
      <h1>Example shop</h1>
      <DeployStatus version={process.env.NEXT_PUBLIC_RELEASE || "dev"} state="succeeded" />
    </main>
  );
}
