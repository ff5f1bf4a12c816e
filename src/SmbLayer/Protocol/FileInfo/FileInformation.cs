using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>Shared length check for the fixed-size FSCC info structures.</summary>
internal static class FsccCheck
{
    public static void Length(ReadOnlySpan<byte> buffer, int need, string structure)
    {
        if (buffer.Length < need)
        {
            throw new SmbProtocolException($"{structure} is {buffer.Length} bytes, need {need}.");
        }
    }
}

/// <summary>
/// FILE_BASIC_INFORMATION (MS-FSCC §2.4.7), 40 bytes. Also the SET_INFO buffer for times and
/// attributes: a time of 0 leaves it unchanged; attributes 0 leave them unchanged.
/// </summary>
internal readonly record struct FileBasicInformation(
    ulong CreationTime, ulong LastAccessTime, ulong LastWriteTime, ulong ChangeTime, FileAttributes FileAttributes)
{
    public const int Size = 40;
    private const int OffCreationTime = 0;
    private const int OffLastAccessTime = 8;
    private const int OffLastWriteTime = 16;
    private const int OffChangeTime = 24;
    private const int OffFileAttributes = 32;
    private const int OffReserved = 36;

    public static FileBasicInformation Parse(ReadOnlySpan<byte> buffer)
    {
        FsccCheck.Length(buffer, Size, "FileBasicInformation");
        return new FileBasicInformation(
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffCreationTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffLastAccessTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffLastWriteTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffChangeTime..]),
            (FileAttributes)BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffFileAttributes..]));
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffCreationTime..], CreationTime);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffLastAccessTime..], LastAccessTime);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffLastWriteTime..], LastWriteTime);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffChangeTime..], ChangeTime);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffFileAttributes..], (uint)FileAttributes);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffReserved..], 0);
    }

    public byte[] ToArray()
    {
        var buffer = new byte[Size];
        WriteTo(buffer);
        return buffer;
    }
}

/// <summary>FILE_STANDARD_INFORMATION (MS-FSCC §2.4.41), 24 bytes.</summary>
internal readonly record struct FileStandardInformation(
    long AllocationSize, long EndOfFile, uint NumberOfLinks, bool DeletePending, bool Directory)
{
    public const int Size = 24;
    private const int OffAllocationSize = 0;
    private const int OffEndOfFile = 8;
    private const int OffNumberOfLinks = 16;
    private const int OffDeletePending = 20;
    private const int OffDirectory = 21;

    public static FileStandardInformation Parse(ReadOnlySpan<byte> buffer)
    {
        FsccCheck.Length(buffer, Size, "FileStandardInformation");
        return new FileStandardInformation(
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffAllocationSize..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffEndOfFile..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffNumberOfLinks..]),
            buffer[OffDeletePending] != 0,
            buffer[OffDirectory] != 0);
    }
}

/// <summary>
/// FILE_ALL_INFORMATION (MS-FSCC §2.4.2): Basic(40) Standard(24) Internal(8) Ea(4) Access(4)
/// Position(8) Mode(4) Alignment(4) then FileNameLength(4) and the name.
/// </summary>
internal sealed record FileAllInformation(
    FileBasicInformation Basic,
    FileStandardInformation Standard,
    ulong IndexNumber,
    uint EaSize,
    AccessMask AccessFlags,
    long CurrentByteOffset,
    uint Mode,
    uint AlignmentRequirement,
    string FileName)
{
    private const string Name = "FileAllInformation";
    private const int OffBasic = 0;
    private const int OffStandard = 40;
    private const int OffIndexNumber = 64;
    private const int OffEaSize = 72;
    private const int OffAccessFlags = 76;
    private const int OffCurrentByteOffset = 80;
    private const int OffMode = 88;
    private const int OffAlignmentRequirement = 92;
    private const int OffFileNameLength = 96;
    private const int OffFileName = 100;
    public const int FixedSize = OffFileName;

    public static FileAllInformation Parse(ReadOnlySpan<byte> buffer)
    {
        FsccCheck.Length(buffer, FixedSize, Name);
        var nameLength = BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffFileNameLength..]);
        // Servers may truncate the name when the output buffer is short (STATUS_BUFFER_OVERFLOW);
        // a length past the buffer is an error rather than something to guess around.
        if (nameLength > (uint)(buffer.Length - OffFileName))
        {
            throw new SmbProtocolException(
                $"{Name} FileNameLength {nameLength} exceeds the {buffer.Length - OffFileName} bytes after the fixed part.");
        }
        return new FileAllInformation(
            FileBasicInformation.Parse(buffer[OffBasic..]),
            FileStandardInformation.Parse(buffer[OffStandard..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffIndexNumber..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffEaSize..]),
            (AccessMask)BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffAccessFlags..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffCurrentByteOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffMode..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffAlignmentRequirement..]),
            Smb2Wire.ReadUtf16(buffer.Slice(OffFileName, (int)nameLength), Name, "FileName"));
    }
}

/// <summary>FILE_NETWORK_OPEN_INFORMATION (MS-FSCC §2.4.29), 56 bytes.</summary>
internal readonly record struct FileNetworkOpenInformation(
    ulong CreationTime, ulong LastAccessTime, ulong LastWriteTime, ulong ChangeTime,
    long AllocationSize, long EndOfFile, FileAttributes FileAttributes)
{
    public const int Size = 56;
    private const int OffCreationTime = 0;
    private const int OffLastAccessTime = 8;
    private const int OffLastWriteTime = 16;
    private const int OffChangeTime = 24;
    private const int OffAllocationSize = 32;
    private const int OffEndOfFile = 40;
    private const int OffFileAttributes = 48;

    public static FileNetworkOpenInformation Parse(ReadOnlySpan<byte> buffer)
    {
        FsccCheck.Length(buffer, Size, "FileNetworkOpenInformation");
        return new FileNetworkOpenInformation(
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffCreationTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffLastAccessTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffLastWriteTime..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffChangeTime..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffAllocationSize..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffEndOfFile..]),
            (FileAttributes)BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffFileAttributes..]));
    }
}

/// <summary>FILE_FS_SIZE_INFORMATION (MS-FSCC §2.5.8), 24 bytes.</summary>
internal readonly record struct FileFsSizeInformation(
    long TotalAllocationUnits, long AvailableAllocationUnits, uint SectorsPerAllocationUnit, uint BytesPerSector)
{
    public const int Size = 24;
    private const int OffTotal = 0;
    private const int OffAvailable = 8;
    private const int OffSectorsPerUnit = 16;
    private const int OffBytesPerSector = 20;

    public long BytesPerAllocationUnit => (long)SectorsPerAllocationUnit * BytesPerSector;

    public static FileFsSizeInformation Parse(ReadOnlySpan<byte> buffer)
    {
        FsccCheck.Length(buffer, Size, "FileFsSizeInformation");
        return new FileFsSizeInformation(
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffTotal..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffAvailable..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffSectorsPerUnit..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffBytesPerSector..]));
    }
}

/// <summary>FILE_FS_FULL_SIZE_INFORMATION (MS-FSCC §2.5.4), 32 bytes.</summary>
internal readonly record struct FileFsFullSizeInformation(
    long TotalAllocationUnits, long CallerAvailableAllocationUnits, long ActualAvailableAllocationUnits,
    uint SectorsPerAllocationUnit, uint BytesPerSector)
{
    public const int Size = 32;
    private const int OffTotal = 0;
    private const int OffCallerAvailable = 8;
    private const int OffActualAvailable = 16;
    private const int OffSectorsPerUnit = 24;
    private const int OffBytesPerSector = 28;

    public long BytesPerAllocationUnit => (long)SectorsPerAllocationUnit * BytesPerSector;

    public static FileFsFullSizeInformation Parse(ReadOnlySpan<byte> buffer)
    {
        FsccCheck.Length(buffer, Size, "FileFsFullSizeInformation");
        return new FileFsFullSizeInformation(
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffTotal..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffCallerAvailable..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[OffActualAvailable..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffSectorsPerUnit..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[OffBytesPerSector..]));
    }
}

/// <summary>SET_INFO buffers (MS-FSCC §2.4) the client sends.</summary>
internal static class FileInfoBuilders
{
    // FILE_RENAME_INFORMATION_TYPE_2 (§2.4.37.2 / §2.4.41.2): ReplaceIfExists(1) Reserved(7)
    // RootDirectory(8) FileNameLength(4) FileName.
    private const int OffRenameReplaceIfExists = 0;
    private const int OffRenameRootDirectory = 8;
    private const int OffRenameFileNameLength = 16;
    private const int OffRenameFileName = 20;
    /// <summary>Windows rejects a rename buffer shorter than the native structure (24 bytes).</summary>
    private const int RenameMinimumSize = 24;

    private const int DispositionSize = 1;
    private const int EndOfFileSize = 8;

    /// <summary>FileRenameInformation (class 10). <paramref name="newName"/> is share-relative, '\' separated.</summary>
    public static byte[] Rename(string newName, bool replaceIfExists)
    {
        ArgumentException.ThrowIfNullOrEmpty(newName);
        var nameLength = Smb2Wire.Utf16Length(newName);
        var buffer = new byte[Math.Max(RenameMinimumSize, OffRenameFileName + nameLength)];
        buffer[OffRenameReplaceIfExists] = replaceIfExists ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(OffRenameRootDirectory), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(OffRenameFileNameLength), (uint)nameLength);
        Smb2Wire.WriteUtf16(newName, buffer.AsSpan(OffRenameFileName));
        return buffer;
    }

    /// <summary>FileDispositionInformation (class 13): DeletePending.</summary>
    public static byte[] Disposition(bool deletePending)
    {
        var buffer = new byte[DispositionSize];
        buffer[0] = deletePending ? (byte)1 : (byte)0;
        return buffer;
    }

    /// <summary>FileEndOfFileInformation (class 20).</summary>
    public static byte[] EndOfFile(long endOfFile)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(endOfFile);
        var buffer = new byte[EndOfFileSize];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, endOfFile);
        return buffer;
    }

    /// <summary>FileBasicInformation (class 4) for setting times/attributes; 0 fields are left unchanged.</summary>
    public static byte[] Basic(FileBasicInformation info) => info.ToArray();
}
