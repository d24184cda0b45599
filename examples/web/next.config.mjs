/** Static export to out/ (web-ci.yml uploads out/ as the release). */
const nextConfig = { output: "export", images: { unoptimized: true } };
export default nextConfig;
