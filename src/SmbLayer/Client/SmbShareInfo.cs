namespace SmbLayer;

/// <summary>What a share serves (MS-SRVS §2.2.2.4, the share type without its flag bits).</summary>
public enum SmbShareType
{
    Disk = 0,
    PrintQueue = 1,
    Device = 2,
    Ipc = 3,
}

/// <summary>A share as the server lists it (<see cref="SmbClient.ListSharesAsync(string, CancellationToken)"/>): SHARE_INFO_1.</summary>
/// <param name="Name">The share's name.</param>
/// <param name="RawType">The type as sent: <see cref="Type"/> in the low byte, flags above.</param>
/// <param name="Comment">The share's remark ("" when none).</param>
public sealed record SmbShareInfo(string Name, uint RawType, string Comment)
{
    private const uint Special = 0x80000000;
    private const uint Temporary = 0x40000000;

    public SmbShareType Type => (SmbShareType)(RawType & 0xFF);

    /// <summary>An administrative or hidden share (STYPE_SPECIAL): IPC$, ADMIN$, C$.</summary>
    public bool IsSpecial => (RawType & Special) != 0;

    public bool IsTemporary => (RawType & Temporary) != 0;

    /// <summary>The type as <c>smbclient -L</c> prints it: Disk, Printer, Device, IPC.</summary>
    public string TypeName => Type switch
    {
        SmbShareType.Disk => "Disk",
        SmbShareType.PrintQueue => "Printer",
        SmbShareType.Device => "Device",
        SmbShareType.Ipc => "IPC",
        _ => $"0x{RawType & 0xFF:X2}",
    };
}
