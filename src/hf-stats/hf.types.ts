/** What the Hub knows of a GGUF repo's model (from its `gguf` metadata); null fields were not reported. */
export interface HfGgufSummary {
  /** Parameter count. */
  total: number | null;
  architecture: string | null;
  contextLength: number | null;
}

export interface HfFile {
  path: string;
  size: number;
  /** LFS sha256 (what a download is verified against); null for small files kept in git (README.md, config.json). */
  sha256: string | null;
}

export interface HfModelInfo {
  id: string;
  /** The commit the answer describes: pin downloads to it. */
  sha: string;
  gated: false | 'auto' | 'manual';
  private: boolean;
  downloads: number;
  likes: number;
  lastModified: Date | null;
  tags: string[];
  pipelineTag: string | null;
  gguf: HfGgufSummary | null;
  files: HfFile[];
}

export interface HfSearchItem {
  id: string;
  downloads: number;
  likes: number;
  lastModified: Date | null;
  tags: string[];
  pipelineTag: string | null;
  gguf: HfGgufSummary | null;
}

export interface HfSearchPage {
  items: HfSearchItem[];
  /** Opaque; pass it back to get the next page. Null on the last page. */
  nextCursor: string | null;
}

export type HfSort = 'downloads' | 'likes' | 'lastModified' | 'createdAt' | 'trendingScore';

export const HF_SORTS: readonly HfSort[] = ['downloads', 'likes', 'lastModified', 'createdAt', 'trendingScore'];

export interface HfSearchOptions {
  search?: string;
  sort?: HfSort;
  /** 1..100, default 20. */
  limit?: number;
  /** From a previous page; it carries that query, so search/sort/limit are taken from it. */
  cursor?: string | null;
}

export interface HfStatsValue {
  downloads: number;
  likes: number;
  lastModified: Date | null;
  /** True when this is an older answer kept because a refresh is due or failed. */
  stale: boolean;
  /** When the Hub gave these numbers. */
  fetchedAt: Date;
}
