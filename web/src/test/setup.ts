// Runs before every test file: unmount what a test rendered, so tests do not leak DOM.
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());
