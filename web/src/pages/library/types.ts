import type { Schema } from '../../api/client';

/** One library item, as `GET /api/content` lists it. */
export type Item = Schema<'ItemView'>;
export type ItemPage = Schema<'ItemPage'>;
export type Modality = 'text' | 'image' | 'audio' | 'video';
