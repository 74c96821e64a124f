/**
 * Correction notes (DESIGN §1): a patient who disputes a fact appends a note saying so. Nothing is edited in place:
 * the disputed message or note stays as it was, and the correction, sealed with the case's key like every note,
 * points at it. Corrections are part of the patient's export, of the treating therapist's reading of the case
 * (`GET /v1/cases/:caseId/corrections`) and of the supervisor's pseudonymised view.
 */
import type { DataKeyRing } from '../crypto/data-keys.js';
import { ApiError } from '../http/api-errors.js';
import { newId } from '../ids.js';
import { openNote, sealNote } from '../notes/note-crypto.js';
import type { Store } from '../store/store.js';
import { disputed } from './record-export.js';
import { conversationById, insertNote, noteById, notesOf, type NoteRow } from './record-queries.js';
import { iso } from './transcript-pages.js';

/** Longest correction, in characters. */
export const CORRECTION_MAX_CHARS = 4000;

export interface CorrectionRequest {
  readonly caseId: string;
  /** The conversation of the disputed message (with `seq`), or the conversation as a whole (without). */
  readonly conversationId?: string;
  readonly seq?: number;
  /** The disputed note (a therapist note, or an earlier correction). */
  readonly noteId?: string;
  readonly text: string;
}

export interface CorrectionDeps {
  readonly store: Store;
  readonly keys: DataKeyRing;
}

/**
 * Checks what the correction disputes belongs to the case, then appends it. The caller has decided `record.correct`
 * on the case already.
 * @throws ApiError VALIDATION_FAILED (a seq without its conversation; a message and a note at once), NOT_FOUND (the
 * disputed message or note is not in this case).
 */
export async function appendCorrection(
  deps: CorrectionDeps,
  author: { readonly userId: string; readonly role: string },
  req: CorrectionRequest,
  now: number,
): Promise<NoteRow> {
  const db = deps.store.kysely;
  if (req.seq !== undefined && req.conversationId === undefined)
    throw new ApiError('VALIDATION_FAILED', 'body/seq needs body/conversationId: name the message by both');
  if (req.noteId !== undefined && req.conversationId !== undefined)
    throw new ApiError('VALIDATION_FAILED', 'dispute either a message (conversationId, seq) or a note (noteId)');
  if (req.conversationId !== undefined) {
    const conv = await conversationById(db, req.conversationId);
    if (!conv || conv.case_id !== req.caseId)
      throw new ApiError('NOT_FOUND', `case ${req.caseId} has no conversation ${req.conversationId}`);
    if (req.seq !== undefined && req.seq > conv.last_seq)
      throw new ApiError('NOT_FOUND', `conversation ${req.conversationId} has no message ${req.seq}`);
  }
  if (req.noteId !== undefined) {
    const target = await noteById(db, req.noteId);
    if (!target || target.case_id !== req.caseId)
      throw new ApiError('NOT_FOUND', `case ${req.caseId} has no note ${req.noteId}`);
  }
  await deps.keys.ensure(req.caseId);
  const id = newId('nt');
  const sealed = sealNote(deps.keys, req.caseId, id, req.text);
  const note: NoteRow = {
    id,
    case_id: req.caseId,
    kind: 'correction',
    appointment_id: null,
    conversation_id: req.conversationId ?? null,
    seq: req.seq ?? null,
    target_note_id: req.noteId ?? null,
    author_id: author.userId,
    author_role: author.role,
    key_id: sealed.keyId,
    text_ct: sealed.ciphertext,
    created_at: now,
  };
  await insertNote(db, note);
  return note;
}

/** A correction as the API shows it: what it disputes, when, and its text; the author only by role. */
export function correctionView(note: NoteRow, text: string) {
  return {
    id: note.id,
    caseRef: note.case_id,
    disputes: disputed(note),
    author: note.author_role,
    writtenAt: iso(note.created_at),
    text,
  };
}

/** The case's correction notes, decrypted, oldest first. */
export async function listCorrections(deps: CorrectionDeps, caseId: string) {
  const notes = await notesOf(deps.store.kysely, caseId, 'correction');
  if (notes.length === 0) return [];
  await deps.keys.ensure(caseId);
  return notes.map((n) => correctionView(n, openNote(deps.keys, n)));
}
