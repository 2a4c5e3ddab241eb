// The store directory before LevelDB opens it: created private (0700: it holds this host's private
// key), and checked for the two damaged layouts LevelDB would misread. With CURRENT missing,
// LevelDB's createIfMissing starts an empty database beside the old files, so the identity would
// be lost and quietly made anew; with CURRENT naming a manifest that is not there, LevelDB reports
// a plain IO error (ENOENT) that hides the damage.
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreCorruptError, StoreError, codeOf, storeErrorFrom } from './errors.js'

const MANIFEST = /^MANIFEST-\d+$/
// LevelDB's own data files: manifests, tables (.ldb, older .sst) and write-ahead logs (numbered .log).
const LEVELDB_DATA = /^(MANIFEST-\d+|\d+\.(ldb|sst|log))$/

export async function prepareStoreDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    if (codeOf(err) !== 'EEXIST') throw storeErrorFrom(err, dir, 'create the directory for')
  }
  let names: string[]
  try {
    if (!(await stat(dir)).isDirectory()) {
      throw new StoreError(dir, `cannot open the agent store at ${dir}: ENOTDIR: it is not a directory; ` +
        'set store.dir to a directory', { code: 'ENOTDIR' })
    }
    names = await readdir(dir)
  } catch (err) {
    throw storeErrorFrom(err, dir, 'read the directory of')
  }
  await checkCurrent(dir, names)
}

async function checkCurrent (dir: string, names: readonly string[]): Promise<void> {
  if (!names.includes('CURRENT')) {
    const data = names.filter((name) => LEVELDB_DATA.test(name))
    if (data.length > 0) {
      throw new StoreCorruptError(dir, 'LevelDB files',
        `CURRENT is missing but LevelDB data files remain (${data.slice(0, 3).join(', ')})`)
    }
    return
  }
  let current: string
  try {
    current = await readFile(join(dir, 'CURRENT'), 'utf8')
  } catch (err) {
    throw storeErrorFrom(err, dir, 'read CURRENT in')
  }
  const manifest = current.endsWith('\n') ? current.slice(0, -1) : current
  if (!MANIFEST.test(manifest) || !names.includes(manifest)) {
    const shown = JSON.stringify(current.slice(0, 40))
    throw new StoreCorruptError(dir, 'LevelDB files', `CURRENT (${shown}) does not name a manifest in the directory`)
  }
}
