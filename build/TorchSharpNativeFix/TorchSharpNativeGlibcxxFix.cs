#nullable enable
// The TorchSharp native library fix that Directory.Build.targets runs after Build and
// Publish (see shared/docs/PLATFORM.md, "TorchSharp native library on Debian 12").
// RoslynCodeTaskFactory compiles exactly one Source file, so the MSBuild task and the
// ELF logic it uses (ElfVersionNeeds, no MSBuild dependency) share this file;
// tests/Rlhf.Build.Tests compiles the same file. RoslynCodeTaskFactory compiles against
// netstandard2.0, which is why this code uses no spans, records or newer BCL APIs.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;

// Fully qualified base: System.Threading.Tasks.Task is in scope wherever implicit usings are on.
public sealed class TorchSharpNativeGlibcxxFix : Microsoft.Build.Utilities.Task
{
    private const string VersionName = "GLIBCXX_3.4.32";

    // Host check results, cached per process (keyed by ELF machine + host library identity).
    private static readonly object CacheGate = new object();
    private static readonly Dictionary<string, bool> HostCache = new Dictionary<string, bool>(StringComparer.Ordinal);

    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Patch even when the host libstdc++ provides GLIBCXX_3.4.32.</summary>
    public bool Force { get; set; }

    public override bool Execute()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (ITaskItem item in Files)
        {
            string path = item.GetMetadata("FullPath");
            if (path.Length == 0 || !seen.Add(path) || !File.Exists(path))
            {
                continue;
            }
            try
            {
                ProcessFile(path);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is InvalidDataException)
            {
                Log.LogError("TorchSharp native fix: could not patch {0}: {1} (set TorchSharpNativeFix=false to skip this step)", path, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    private void ProcessFile(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        VersionNeedScan scan = ElfVersionNeeds.Scan(data, VersionName);
        switch (scan.State)
        {
            case VersionNeedState.NotElf:
                Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: {0} is not an ELF file; skipped.", path);
                return;
            case VersionNeedState.NotElf64LittleEndian:
                Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: {0} is not ELF64 little-endian; skipped.", path);
                return;
            case VersionNeedState.Absent:
                Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: {0} has no {1} version need; nothing to do.", path, VersionName);
                return;
            case VersionNeedState.Weak:
                Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: {0} already patched.", path);
                return;
        }

        if (!Force)
        {
            string? hostLib;
            if (HostProvidesVersion(scan.Machine, out hostLib))
            {
                Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: host {0} provides {1}; {2} left as is.", hostLib ?? "libstdc++.so.6", VersionName, path);
                return;
            }
        }

        ElfVersionNeeds.MarkWeak(data, scan);
        WritePrivateCopy(path, data);
        Log.LogMessage(MessageImportance.High, "TorchSharp native fix: patched {0}", path);
    }

    // Writes the patched bytes to a new file next to 'path' and renames it over 'path'.
    // 'path' may be a symlink or a hardlink into the NuGet cache: rename replaces the
    // directory entry only, so the link target is never written. Mode and mtime are kept.
    private static void WritePrivateCopy(string path, byte[] data)
    {
        string dir = Path.GetDirectoryName(path) ?? ".";
        string tmp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        DateTime mtime = File.GetLastWriteTimeUtc(path);
        try
        {
            // File.Copy follows symlinks and copies the permission bits; then overwrite the content.
            File.Copy(path, tmp, false);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.Write, FileShare.None))
            {
                fs.SetLength(0);
                fs.Write(data, 0, data.Length);
            }
            File.SetLastWriteTimeUtc(tmp, mtime);
            File.Replace(tmp, path, null);
            File.SetLastWriteTimeUtc(path, mtime);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }

    // Does the libstdc++.so.6 the dynamic loader would pick (for this ELF machine) define GLIBCXX_3.4.32?
    private bool HostProvidesVersion(ushort machine, out string? hostLib)
    {
        hostLib = FindHostLibstdcxx(machine);
        if (hostLib == null)
        {
            Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: no host libstdc++.so.6 found for ELF machine {0}; patching.", machine);
            return false;
        }
        var info = new FileInfo(hostLib);
        string key = machine + "|" + hostLib + "|" + info.Length + "|" + info.LastWriteTimeUtc.Ticks;
        lock (CacheGate)
        {
            bool cached;
            if (HostCache.TryGetValue(key, out cached))
            {
                return cached;
            }
        }
        byte[] needle = Encoding.ASCII.GetBytes("\0" + VersionName + "\0");
        bool found = IndexOf(File.ReadAllBytes(hostLib), needle) >= 0;
        lock (CacheGate)
        {
            HostCache[key] = found;
        }
        Log.LogMessage(MessageImportance.Low, "TorchSharp native fix: host {0} {1} {2}.", hostLib, found ? "provides" : "lacks", VersionName);
        return found;
    }

    private static string? FindHostLibstdcxx(ushort machine)
    {
        var dirs = new List<string>();
        ReadLdSoConf("/etc/ld.so.conf", dirs, new HashSet<string>(StringComparer.Ordinal), 0);
        dirs.AddRange(new[]
        {
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/lib64", "/usr/lib64", "/lib", "/usr/lib",
        });
        foreach (string dir in dirs)
        {
            string candidate = Path.Combine(dir, "libstdc++.so.6");
            try
            {
                if (!File.Exists(candidate))
                {
                    continue;
                }
                var header = new byte[20];
                int read;
                using (var fs = new FileStream(candidate, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
                {
                    read = fs.Read(header, 0, header.Length);
                }
                if (read == header.Length && header[0] == 0x7f && header[1] == (byte)'E' && header[4] == 2 && header[5] == 1
                    && ElfVersionNeeds.Machine(header) == machine)
                {
                    return candidate;
                }
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                // unreadable candidate: try the next one
            }
        }
        return null;
    }

    private static void ReadLdSoConf(string path, List<string> dirs, HashSet<string> visited, int depth)
    {
        if (depth > 8 || !visited.Add(path))
        {
            return;
        }
        string[] lines;
        try
        {
            if (!File.Exists(path))
            {
                return;
            }
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
        {
            return;
        }
        foreach (string raw in lines)
        {
            string line = raw;
            int hash = line.IndexOf('#');
            if (hash >= 0)
            {
                line = line.Substring(0, hash);
            }
            line = line.Trim();
            if (line.Length == 0)
            {
                continue;
            }
            if (line.StartsWith("include", StringComparison.Ordinal) && line.Length > 7 && char.IsWhiteSpace(line[7]))
            {
                foreach (string pattern in line.Substring(8).Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries))
                {
                    string full = pattern.StartsWith("/", StringComparison.Ordinal)
                        ? pattern
                        : Path.Combine(Path.GetDirectoryName(path) ?? "/", pattern);
                    foreach (string inc in ExpandGlob(full))
                    {
                        ReadLdSoConf(inc, dirs, visited, depth + 1);
                    }
                }
            }
            else if (line.StartsWith("/", StringComparison.Ordinal))
            {
                foreach (string dir in line.Split(new[] { ' ', '\t', ',', ':' }, StringSplitOptions.RemoveEmptyEntries))
                {
                    dirs.Add(dir);
                }
            }
        }
    }

    private static IEnumerable<string> ExpandGlob(string pattern)
    {
        string fileName = Path.GetFileName(pattern);
        if (fileName.IndexOfAny(new[] { '*', '?' }) < 0)
        {
            return new[] { pattern };
        }
        string dir = Path.GetDirectoryName(pattern) ?? "/";
        try
        {
            if (!Directory.Exists(dir))
            {
                return Array.Empty<string>();
            }
            string[] files = Directory.GetFiles(dir, fileName);
            Array.Sort(files, StringComparer.Ordinal);
            return files;
        }
        catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    private static int IndexOf(byte[] hay, byte[] needle)
    {
        int last = hay.Length - needle.Length;
        for (int i = 0; i <= last; i++)
        {
            i = Array.IndexOf(hay, needle[0], i, last - i + 1);
            if (i < 0)
            {
                return -1;
            }
            int k = 1;
            while (k < needle.Length && hay[i + k] == needle[k])
            {
                k++;
            }
            if (k == needle.Length)
            {
                return i;
            }
        }
        return -1;
    }
}

public enum VersionNeedState
{
    /// <summary>No ELF magic, or shorter than an ELF64 header.</summary>
    NotElf,
    NotElf64LittleEndian,
    /// <summary>No Vernaux entry names the version.</summary>
    Absent,
    /// <summary>Every Vernaux entry naming the version has VER_FLG_WEAK: already patched.</summary>
    Weak,
    /// <summary>At least one Vernaux entry naming the version lacks VER_FLG_WEAK.</summary>
    Strong,
}

public sealed class VersionNeedScan
{
    internal VersionNeedScan(VersionNeedState state, ushort machine, IReadOnlyList<long> flagOffsets)
    {
        State = state;
        Machine = machine;
        FlagOffsets = flagOffsets;
    }

    public VersionNeedState State { get; }

    /// <summary>e_machine, so the host check reads the libstdc++ of the same architecture.</summary>
    public ushort Machine { get; }

    /// <summary>File offsets of vna_flags of every Vernaux entry naming the version.</summary>
    public IReadOnlyList<long> FlagOffsets { get; }
}

/// <summary>
/// Finds the Vernaux entries of an ELF64 little-endian file's SHT_GNU_verneed section(s)
/// (.gnu.version_r) that name a version, and sets VER_FLG_WEAK on them, in memory.
/// A malformed file gives InvalidDataException, never an index error.
/// </summary>
public static class ElfVersionNeeds
{
    private const ushort VerFlgWeak = 0x2;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    public static VersionNeedScan Scan(byte[] data, string versionName)
    {
        var none = Array.Empty<long>();
        if (data.Length < 64 || data[0] != 0x7f || data[1] != (byte)'E' || data[2] != (byte)'L' || data[3] != (byte)'F')
        {
            return new VersionNeedScan(VersionNeedState.NotElf, 0, none);
        }
        if (data[4] != 2 || data[5] != 1)
        {
            return new VersionNeedScan(VersionNeedState.NotElf64LittleEndian, 0, none);
        }
        ushort machine = Machine(data);

        List<long> flagOffsets = FindVernauxFlags(data, versionName);
        if (flagOffsets.Count == 0)
        {
            return new VersionNeedScan(VersionNeedState.Absent, machine, none);
        }

        bool allWeak = true;
        foreach (long off in flagOffsets)
        {
            if ((U16(data, off) & VerFlgWeak) == 0)
            {
                allWeak = false;
            }
        }
        return new VersionNeedScan(allWeak ? VersionNeedState.Weak : VersionNeedState.Strong, machine, flagOffsets);
    }

    public static void MarkWeak(byte[] data, VersionNeedScan scan)
    {
        foreach (long off in scan.FlagOffsets)
        {
            ushort flags = (ushort)(U16(data, off) | VerFlgWeak);
            data[off] = (byte)(flags & 0xff);
            data[off + 1] = (byte)(flags >> 8);
        }
    }

    /// <summary>e_machine of an ELF64 little-endian header (at least its first 20 bytes).</summary>
    public static ushort Machine(byte[] header)
    {
        return U16(header, 18);
    }

    // Returns the file offsets of vna_flags of every Vernaux entry named 'name'
    // in the SHT_GNU_verneed section(s), walking section headers (ELF64 LE).
    private static List<long> FindVernauxFlags(byte[] d, string name)
    {
        var result = new List<long>();
        ulong shoff = U64(d, 0x28);
        ushort shentsize = U16(d, 0x3a);
        ulong shnum = U16(d, 0x3c);
        if (shoff == 0)
        {
            return result;
        }
        if (shentsize < 64)
        {
            throw new InvalidDataException("bad e_shentsize " + shentsize);
        }
        if (shnum == 0)
        {
            shnum = U64(d, Checked(shoff + 32, d)); // extended numbering: sh_size of section 0
        }
        if (shnum > 65536 || shoff + shnum * shentsize > (ulong)d.LongLength)
        {
            throw new InvalidDataException("section header table out of range");
        }
        for (ulong i = 0; i < shnum; i++)
        {
            long sh = (long)(shoff + i * shentsize);
            if (U32(d, sh + 4) != ShtGnuVerneed)
            {
                continue;
            }
            ulong secOff = U64(d, sh + 24);
            ulong secSize = U64(d, sh + 32);
            uint link = U32(d, sh + 40);
            uint verneedCount = U32(d, sh + 44);
            if (secOff + secSize > (ulong)d.LongLength || link >= shnum)
            {
                throw new InvalidDataException(".gnu.version_r out of range");
            }
            long strSh = (long)(shoff + (ulong)link * shentsize);
            ulong strOff = U64(d, strSh + 24);
            ulong strSize = U64(d, strSh + 32);
            if (strOff + strSize > (ulong)d.LongLength)
            {
                throw new InvalidDataException("version string table out of range");
            }

            ulong vn = 0;
            for (uint n = 0; n < verneedCount; n++)
            {
                if (vn + 16 > secSize)
                {
                    throw new InvalidDataException("Verneed entry out of range");
                }
                long vnAbs = (long)(secOff + vn);
                ushort vnCnt = U16(d, vnAbs + 2);
                uint vnAux = U32(d, vnAbs + 8);
                uint vnNext = U32(d, vnAbs + 12);
                ulong aux = vn + vnAux;
                for (int j = 0; j < vnCnt; j++)
                {
                    if (aux + 16 > secSize)
                    {
                        throw new InvalidDataException("Vernaux entry out of range");
                    }
                    long auxAbs = (long)(secOff + aux);
                    uint vnaName = U32(d, auxAbs + 8);
                    uint vnaNext = U32(d, auxAbs + 12);
                    if (StringEquals(d, strOff, strSize, vnaName, name))
                    {
                        result.Add(auxAbs + 4);
                    }
                    if (vnaNext == 0)
                    {
                        break;
                    }
                    aux += vnaNext;
                }
                if (vnNext == 0)
                {
                    break;
                }
                vn += vnNext;
            }
        }
        return result;
    }

    private static bool StringEquals(byte[] d, ulong strOff, ulong strSize, uint index, string expected)
    {
        if ((ulong)index + (ulong)expected.Length + 1 > strSize)
        {
            return false;
        }
        long start = (long)(strOff + index);
        for (int k = 0; k < expected.Length; k++)
        {
            if (d[start + k] != (byte)expected[k])
            {
                return false;
            }
        }
        return d[start + expected.Length] == 0;
    }

    private static ulong Checked(ulong offset, byte[] d)
    {
        if (offset > (ulong)d.LongLength)
        {
            throw new InvalidDataException("offset out of range");
        }
        return offset;
    }

    private static void Need(byte[] d, long off, int size)
    {
        if (off < 0 || off + size > d.LongLength)
        {
            throw new InvalidDataException("read past end of file at offset " + off);
        }
    }

    private static ushort U16(byte[] d, long off)
    {
        Need(d, off, 2);
        return (ushort)(d[off] | (d[off + 1] << 8));
    }

    private static uint U32(byte[] d, long off)
    {
        Need(d, off, 4);
        return (uint)d[off] | ((uint)d[off + 1] << 8) | ((uint)d[off + 2] << 16) | ((uint)d[off + 3] << 24);
    }

    private static ulong U64(byte[] d, long off)
    {
        return U32(d, off) | ((ulong)U32(d, off + 4) << 32);
    }

    private static ulong U64(byte[] d, ulong off)
    {
        return U64(d, (long)off);
    }
}
