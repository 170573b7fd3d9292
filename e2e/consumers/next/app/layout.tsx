import type { Metadata } from 'next';

export const metadata: Metadata = {
  title: 'petfl consumer: Next.js',
  description: 'An outside Next.js app using @petfl/sdk/react',
};

export default function RootLayout({ children }: LayoutProps<'/'>) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
