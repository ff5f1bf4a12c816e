using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>One entry of a directory listing, whatever the information class it came from.</summary>
/// <param name="FileId">FileId (MS-FSCC §2.1.4) for the Id* classes, else null.</param>
/// <param name="ShortName">8.3 name for the *Both* classes, else null.</param>
internal readonly record struct DirectoryEntry(
    string FileName,
    uint FileIndex,
    ulong CreationTime,
    ulong LastAccessTime,
    ulong LastWriteTime,
    ulong ChangeTime,
    long EndOfFile,
    long AllocationSize,
    FileAttributes FileAttributes,
    ulong? FileId,
    string? ShortName)
{
    public DateTimeOffset CreationTimeUtc => FileTime.ToDateTimeOffset(CreationTime);
    public DateTimeOffset LastAccessTimeUtc => FileTime.ToDateTimeOffset(LastAccessTime);
    public DateTimeOffset LastWriteTimeUtc => FileTime.ToDateTimeOffset(LastWriteTime);
    public DateTimeOffset ChangeTimeUtc => FileTime.ToDateTimeOffset(ChangeTime);
    public bool IsDirectory => (FileAttributes & FileAttributes.Directory) != 0;
    /// <summary>True for the "." and ".." entries servers return.</summary>
    public bool IsDotEntry => FileName is "." or "..";
}

/// <summary>
/// Walks a QUERY_DIRECTORY output buffer by NextEntryOffset (MS-FSCC §2.4). Supports
/// FileDirectoryInformation, FileFullDirectoryInformation, FileBothDirectoryInformation,
/// FileIdBothDirectoryInformation and FileIdFullDirectoryInformation.
/// </summary>
internal static class DirectoryEntryParser
{
    private const string Name = "Directory listing";

    // Fields common to every class (§2.4.10 FileDirectoryInformation).
    private const int OffNextEntryOffset = 0;
    private const int OffFileIndex = 4;
    private const int OffCreationTime = 8;
    private const int OffLastAccessTime = 16;
    private const int OffLastWriteTime = 24;
    private const int OffChangeTime = 32;
    private const int OffEndOfFile = 40;
    private const int OffAllocationSize = 48;
    private const int OffFileAttributes = 56;
    private const int OffFileNameLength = 60;

    private const int DirectoryFixedSize = 64;      // §2.4.10
    private const int FullDirectoryFixedSize = 68;  // §2.4.14: + EaSize
    private const int BothDirectoryFixedSize = 94;  // §2.4.8: + EaSize, ShortNameLength, Reserved, ShortName[24]
    private const int IdBothFixedSize = 104;        // §2.4.17: + Reserved2(2), FileId(8)
    private const int IdFullFixedSize = 80;         // §2.4.18: + EaSize, Reserved(4), FileId(8)

    private const int OffShortNameLength = 68;
    private const int OffShortName = 70;
    private const int ShortNameMax = 24;
    private const int OffIdBothFileId = 96;
    private const int OffIdFullFileId = 72;

    /// <summary>Fixed size of an entry (everything before FileName) for <paramref name="informationClass"/>.</summary>
    public static int FixedSize(FileInformationClass informationClass) => informationClass switch
    {
        FileInformationClass.FileDirectoryInformation => DirectoryFixedSize,
        FileInformationClass.FileFullDirectoryInformation => FullDirectoryFixedSize,
        FileInformationClass.FileBothDirectoryInformation => BothDirectoryFixedSize,
        FileInformationClass.FileIdBothDirectoryInformation => IdBothFixedSize,
        FileInformationClass.FileIdFullDirectoryInformation => IdFullFixedSize,
        _ => throw new ArgumentOutOfRangeException(nameof(informationClass), informationClass, "Not a supported directory information class."),
    };

    /// <summary>
    /// Parses every entry. NextEntryOffset must be 0 (last) or move past the current entry's
    /// fixed part and name and stay inside the buffer, so loops and overlaps are rejected.
    /// </summary>
    public static List<DirectoryEntry> Parse(ReadOnlySpan<byte> buffer, FileInformationClass informationClass)
    {
        var fixedSize = FixedSize(informationClass);
        var entries = new List<DirectoryEntry>();
        if (buffer.IsEmpty)
        {
            return entries;
        }
        var pos = 0;
        while (true)
        {
            var remaining = buffer.Length - pos;
            if (remaining < fixedSize)
            {
                throw new SmbProtocolException(
                    $"{Name} entry {entries.Count} at {pos} needs {fixedSize} bytes for {informationClass}, {remaining} left.");
            }
            var entry = buffer[pos..];
            var next = BinaryPrimitives.ReadUInt32LittleEndian(entry[OffNextEntryOffset..]);
            var nameLength = BinaryPrimitives.ReadUInt32LittleEndian(entry[OffFileNameLength..]);
            if (next > (uint)remaining)
            {
                throw new SmbProtocolException(
                    $"{Name} entry {entries.Count} NextEntryOffset {next} runs past the buffer ({remaining} bytes left).");
            }
            // The entry spans NextEntryOffset bytes (or the rest of the buffer for the last one);
            // its fixed part and name must fit, which also makes every step move forward.
            var extent = next == 0 ? (uint)remaining : next;
            if ((ulong)fixedSize + nameLength > extent)
            {
                throw new SmbProtocolException(
                    $"{Name} entry {entries.Count} FileNameLength {nameLength} + fixed {fixedSize} bytes exceed the entry's {extent} bytes (NextEntryOffset {next}).");
            }
            entries.Add(ReadEntry(entry, informationClass, fixedSize, (int)nameLength));
            if (next == 0)
            {
                return entries;
            }
            pos += (int)next;
        }
    }

    private static DirectoryEntry ReadEntry(ReadOnlySpan<byte> entry, FileInformationClass informationClass, int fixedSize, int nameLength)
    {
        ulong? fileId = informationClass switch
        {
            FileInformationClass.FileIdBothDirectoryInformation => BinaryPrimitives.ReadUInt64LittleEndian(entry[OffIdBothFileId..]),
            FileInformationClass.FileIdFullDirectoryInformation => BinaryPrimitives.ReadUInt64LittleEndian(entry[OffIdFullFileId..]),
            _ => null,
        };
        string? shortName = null;
        if (informationClass is FileInformationClass.FileBothDirectoryInformation or FileInformationClass.FileIdBothDirectoryInformation)
        {
            var shortLength = entry[OffShortNameLength];
            if (shortLength > ShortNameMax)
            {
                throw new SmbProtocolException($"{Name} ShortNameLength {shortLength} exceeds {ShortNameMax}.");
            }
            shortName = Smb2Wire.ReadUtf16(entry.Slice(OffShortName, shortLength), Name, "ShortName");
        }
        return new DirectoryEntry(
            Smb2Wire.ReadUtf16(entry.Slice(fixedSize, nameLength), Name, "FileName"),
            BinaryPrimitives.ReadUInt32LittleEndian(entry[OffFileIndex..]),
            BinaryPrimitives.ReadUInt64LittleEndian(entry[OffCreationTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(entry[OffLastAccessTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(entry[OffLastWriteTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(entry[OffChangeTime..]),
            BinaryPrimitives.ReadInt64LittleEndian(entry[OffEndOfFile..]),
            BinaryPrimitives.ReadInt64LittleEndian(entry[OffAllocationSize..]),
            (FileAttributes)BinaryPrimitives.ReadUInt32LittleEndian(entry[OffFileAttributes..]),
            fileId,
            shortName);
    }
}
