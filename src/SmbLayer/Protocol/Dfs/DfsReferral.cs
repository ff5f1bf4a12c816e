using System.Buffers.Binary;
using System.Text;

namespace SmbLayer.Protocol.Dfs;

/// <summary>What a referral entry's target is (MS-DFSC §2.2.5, ServerType).</summary>
internal enum DfsServerType : ushort
{
    /// <summary>A link's targets: shares that hold the data.</summary>
    NonRoot = 0,

    /// <summary>A namespace root's targets.</summary>
    Root = 1,
}

/// <summary>RESP_GET_DFS_REFERRAL header flags (MS-DFSC §2.2.4).</summary>
[Flags]
internal enum DfsReferralHeaderFlags : uint
{
    None = 0,
    ReferralServers = 0x1,
    StorageServers = 0x2,
    TargetFailback = 0x4,
}

/// <summary>
/// One referral entry (MS-DFSC §2.2.5): for a root or link, its path and one target (<see cref="NetworkAddress"/>,
/// <c>\server\share[\path]</c>); or, for a domain or DC referral (NameListReferral), a name and the names it expands to.
/// </summary>
internal sealed record DfsReferralEntry
{
    public required int Version { get; init; }
    public DfsServerType ServerType { get; init; }
    public ushort Flags { get; init; }

    /// <summary>Seconds the entry may be cached (V2 and later; 0 for V1).</summary>
    public uint TimeToLive { get; init; }

    public string DfsPath { get; init; } = "";
    public string DfsAlternatePath { get; init; } = "";

    /// <summary>The target, <c>\server\share[\path]</c> (V1: the share name).</summary>
    public string NetworkAddress { get; init; } = "";

    /// <summary>NameListReferral entries: the domain or DC name, and the names it expands to.</summary>
    public string? SpecialName { get; init; }
    public IReadOnlyList<string> ExpandedNames { get; init; } = [];

    /// <summary>V4: the first entry of a target set (TargetSetBoundary).</summary>
    public bool StartsTargetSet => Version >= 4 && (Flags & DfsReferral.TargetSetBoundary) != 0;

    public bool IsNameList => (Flags & DfsReferral.NameListReferral) != 0;
}

/// <summary>A decoded RESP_GET_DFS_REFERRAL.</summary>
internal sealed record DfsReferralResponse(int PathConsumedCharacters, DfsReferralHeaderFlags HeaderFlags, IReadOnlyList<DfsReferralEntry> Entries);

/// <summary>
/// FSCTL_DFS_GET_REFERRALS payloads (MS-DFSC §2.2.2, §2.2.4, §2.2.5): the request, and a decoder that checks every size
/// and offset against the buffer: a bad one is an <see cref="SmbProtocolException"/> naming it, never a read outside.
/// </summary>
internal static class DfsReferral
{
    public const ushort NameListReferral = 0x0002;
    public const ushort TargetSetBoundary = 0x0004;

    /// <summary>The highest referral version asked for (V4; servers answer with what they have).</summary>
    public const ushort MaxReferralLevel = 4;

    /// <summary>A referral response is small; this bounds what a server can make us decode (MaxOutputResponse).</summary>
    public const int MaxResponseSize = 56 * 1024;

    private const string Name = "DFS referral response";
    private const int HeaderSize = 8;
    private const int V1FixedSize = 8;
    private const int V2FixedSize = 22;
    private const int V3FixedSize = 34; // V3/V4 with NameListReferral 0; with it, the fixed part is 18 plus padding

    /// <summary>REQ_GET_DFS_REFERRAL: MaxReferralLevel and the path (<c>\server\share[\path]</c>), NUL-terminated UTF-16.</summary>
    public static byte[] EncodeRequest(string path, ushort maxReferralLevel = MaxReferralLevel)
    {
        var name = Encoding.Unicode.GetBytes(path + "\0");
        var request = new byte[2 + name.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(request, maxReferralLevel);
        name.CopyTo(request, 2);
        return request;
    }

    public static DfsReferralResponse ParseResponse(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < HeaderSize)
        {
            throw new SmbProtocolException($"{Name} of {buffer.Length} bytes is shorter than its 8-byte header.");
        }
        var pathConsumed = BinaryPrimitives.ReadUInt16LittleEndian(buffer);
        var count = BinaryPrimitives.ReadUInt16LittleEndian(buffer[2..]);
        var flags = (DfsReferralHeaderFlags)BinaryPrimitives.ReadUInt32LittleEndian(buffer[4..]);
        if (pathConsumed % 2 != 0)
        {
            throw new SmbProtocolException($"{Name}: PathConsumed {pathConsumed} is not a whole number of UTF-16 characters.");
        }
        var entries = new List<DfsReferralEntry>(Math.Min((int)count, (buffer.Length - HeaderSize) / V1FixedSize));
        var offset = HeaderSize;
        int? version = null;
        for (var i = 0; i < count; i++)
        {
            if (offset + 4 > buffer.Length)
            {
                throw new SmbProtocolException($"{Name}: entry {i} of {count} starts at {offset}, past the {buffer.Length}-byte buffer.");
            }
            var entryVersion = BinaryPrimitives.ReadUInt16LittleEndian(buffer[offset..]);
            var size = BinaryPrimitives.ReadUInt16LittleEndian(buffer[(offset + 2)..]);
            if (version is { } first && first != entryVersion)
            {
                throw new SmbProtocolException($"{Name}: entry {i} is version {entryVersion}, entry 0 version {first}; all must be alike (MS-DFSC §2.2.5).");
            }
            version = entryVersion;
            var fixedSize = entryVersion switch
            {
                1 => V1FixedSize,
                2 => V2FixedSize,
                3 or 4 => 18, // the common part; the rest depends on NameListReferral
                _ => throw new SmbProtocolException($"{Name}: entry {i} has version {entryVersion}; only 1 to 4 exist."),
            };
            if (size < fixedSize || offset + size > buffer.Length)
            {
                throw new SmbProtocolException($"{Name}: entry {i} (version {entryVersion}) has Size {size} at offset {offset}; it needs at least {fixedSize} bytes within the {buffer.Length}-byte buffer.");
            }
            entries.Add(ParseEntry(buffer, offset, size, entryVersion, i));
            offset += size;
        }
        return new DfsReferralResponse(pathConsumed / 2, flags, entries);
    }

    private static DfsReferralEntry ParseEntry(ReadOnlySpan<byte> buffer, int start, int size, int version, int index)
    {
        var entry = buffer.Slice(start, size);
        var serverType = (DfsServerType)BinaryPrimitives.ReadUInt16LittleEndian(entry[4..]);
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(entry[6..]);
        switch (version)
        {
            case 1:
                // The share name follows the fixed part inside the entry.
                return new DfsReferralEntry
                {
                    Version = 1,
                    ServerType = serverType,
                    Flags = flags,
                    NetworkAddress = String(entry, V1FixedSize, index, "ShareName"),
                };
            case 2:
                return new DfsReferralEntry
                {
                    Version = 2,
                    ServerType = serverType,
                    Flags = flags,
                    TimeToLive = BinaryPrimitives.ReadUInt32LittleEndian(entry[12..]),
                    DfsPath = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[16..]), index, "DFSPath"),
                    DfsAlternatePath = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[18..]), index, "DFSAlternatePath"),
                    NetworkAddress = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[20..]), index, "NetworkAddress"),
                };
        }
        var ttl = BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]);
        if ((flags & NameListReferral) != 0)
        {
            // SpecialNameOffset, NumberOfExpandedNames, ExpandedNameOffset (MS-DFSC §2.2.5.3.2).
            var special = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[12..]), index, "SpecialName");
            var expandedCount = BinaryPrimitives.ReadUInt16LittleEndian(entry[14..]);
            var expandedOffset = BinaryPrimitives.ReadUInt16LittleEndian(entry[16..]);
            var names = new List<string>(Math.Min((int)expandedCount, 64));
            var position = start + expandedOffset;
            for (var n = 0; n < expandedCount; n++)
            {
                if (position >= buffer.Length)
                {
                    throw new SmbProtocolException($"{Name}: entry {index}'s expanded name {n} of {expandedCount} starts past the buffer.");
                }
                var name = String(buffer, position, index, "ExpandedName");
                names.Add(name);
                position += (name.Length + 1) * 2;
            }
            return new DfsReferralEntry { Version = version, ServerType = serverType, Flags = flags, TimeToLive = ttl, SpecialName = special, ExpandedNames = names };
        }
        if (size < V3FixedSize)
        {
            throw new SmbProtocolException($"{Name}: entry {index} (version {version}) has Size {size}; a target entry needs {V3FixedSize}.");
        }
        return new DfsReferralEntry
        {
            Version = version,
            ServerType = serverType,
            Flags = flags,
            TimeToLive = ttl,
            DfsPath = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[12..]), index, "DFSPath"),
            DfsAlternatePath = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[14..]), index, "DFSAlternatePath"),
            NetworkAddress = StringAt(buffer, start, BinaryPrimitives.ReadUInt16LittleEndian(entry[16..]), index, "NetworkAddress"),
        };
    }

    /// <summary>A string at an offset from the entry's start (MS-DFSC §2.2.5: offsets count from the entry).</summary>
    private static string StringAt(ReadOnlySpan<byte> buffer, int entryStart, int offset, int index, string field)
    {
        var position = entryStart + offset;
        if (offset == 0 || position >= buffer.Length)
        {
            throw new SmbProtocolException($"{Name}: entry {index}'s {field} offset {offset} leads outside the {buffer.Length}-byte buffer.");
        }
        return String(buffer, position, index, field);
    }

    /// <summary>A NUL-terminated UTF-16 string at <paramref name="position"/>, the NUL within the buffer.</summary>
    private static string String(ReadOnlySpan<byte> buffer, int position, int index, string field)
    {
        var rest = buffer[position..];
        for (var i = 0; i + 1 < rest.Length; i += 2)
        {
            if (rest[i] == 0 && rest[i + 1] == 0)
            {
                return Encoding.Unicode.GetString(rest[..i]);
            }
        }
        throw new SmbProtocolException($"{Name}: entry {index}'s {field} at {position} has no terminating NUL within the buffer.");
    }
}
