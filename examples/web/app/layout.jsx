export const metadata = { title: "Example shop", description: "Deployed by the chatops pipeline" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
