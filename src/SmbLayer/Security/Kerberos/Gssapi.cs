using System.Runtime.InteropServices;
using System.Text;

namespace SmbLayer.Security.Kerberos;

/// <summary>
/// The few GSS-API calls (RFC 2744, MIT krb5's <c>libgssapi_krb5.so.2</c>) that Kerberos for SMB needs: names, credentials
/// from the ticket cache or from a password (kept in memory, never written to the user's cache), a SPNEGO context limited
/// to Kerberos, and its session key. Kerberos itself is the system's; nothing of it is written here.
/// </summary>
internal static class Gssapi
{
    private const string Library = "libgssapi_krb5.so.2";

    public const uint Complete = 0;
    public const uint ContinueNeeded = 1;

    public const uint MutualFlag = 2, ReplayFlag = 4, SequenceFlag = 8, IntegFlag = 32;

    /// <summary>GSS_C_INITIATE.</summary>
    public const int Initiate = 1;

    /// <summary>A major status that is an error (its calling or routine error bits are set).</summary>
    public static bool IsError(uint major) => (major & 0xFFFF0000) != 0;

    [StructLayout(LayoutKind.Sequential)]
    public struct Buffer
    {
        public nuint Length;
        public IntPtr Value;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Oid
    {
        public uint Length;
        public IntPtr Elements;
    }

    /// <summary>gss_OID_set_desc and gss_buffer_set_desc alike: a count and a pointer to that many elements.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Set
    {
        public nuint Count;
        public IntPtr Elements;
    }

    /// <summary>GSS_C_NT_HOSTBASED_SERVICE, 1.2.840.113554.1.2.1.4: "service@host".</summary>
    public static readonly IntPtr HostBasedService = NativeOid([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x01, 0x04]);

    /// <summary>GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1: "user@REALM".</summary>
    public static readonly IntPtr Krb5PrincipalName = NativeOid([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02, 0x01]);

    /// <summary>The Kerberos v5 mechanism, 1.2.840.113554.1.2.2.</summary>
    public static readonly IntPtr Krb5Mechanism = NativeOid([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02]);

    /// <summary>SPNEGO, 1.3.6.1.5.5.2.</summary>
    public static readonly IntPtr SpnegoMechanism = NativeOid([0x2B, 0x06, 0x01, 0x05, 0x05, 0x02]);

    /// <summary>GSS_C_INQ_SSPI_SESSION_KEY, 1.2.840.113554.1.2.2.5.5: the key SMB signs and encrypts from.</summary>
    public static readonly IntPtr SessionKeyOid = NativeOid([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02, 0x05, 0x05]);

    /// <summary>A one-element OID set of <paramref name="oid"/>, for the process's lifetime.</summary>
    public static IntPtr NativeOidSet(IntPtr oid)
    {
        var set = Marshal.AllocHGlobal(Marshal.SizeOf<Set>());
        Marshal.StructureToPtr(new Set { Count = 1, Elements = oid }, set, false);
        return set;
    }

    public static readonly IntPtr SpnegoOnly = NativeOidSet(SpnegoMechanism);
    public static readonly IntPtr Krb5Only = NativeOidSet(Krb5Mechanism);

    /// <summary>An OID in unmanaged memory for the process's lifetime (the library keeps pointers to what it is given).</summary>
    private static IntPtr NativeOid(byte[] der)
    {
        var elements = Marshal.AllocHGlobal(der.Length);
        Marshal.Copy(der, 0, elements, der.Length);
        var oid = Marshal.AllocHGlobal(Marshal.SizeOf<Oid>());
        Marshal.StructureToPtr(new Oid { Length = (uint)der.Length, Elements = elements }, oid, false);
        return oid;
    }

    [DllImport(Library, EntryPoint = "gss_import_name")]
    public static extern uint ImportName(out uint minor, ref Buffer name, IntPtr nameType, out IntPtr output);

    [DllImport(Library, EntryPoint = "gss_acquire_cred")]
    public static extern uint AcquireCred(out uint minor, IntPtr name, uint timeReq, IntPtr mechs, int usage,
        out IntPtr cred, IntPtr actualMechs, IntPtr timeRec);

    [DllImport(Library, EntryPoint = "gss_acquire_cred_with_password")]
    public static extern uint AcquireCredWithPassword(out uint minor, IntPtr name, ref Buffer password, uint timeReq, IntPtr mechs,
        int usage, out IntPtr cred, IntPtr actualMechs, IntPtr timeRec);

    [DllImport(Library, EntryPoint = "gss_set_neg_mechs")]
    public static extern uint SetNegMechs(out uint minor, IntPtr cred, IntPtr mechs);

    [DllImport(Library, EntryPoint = "gss_init_sec_context")]
    public static extern uint InitSecContext(out uint minor, IntPtr cred, ref IntPtr context, IntPtr target, IntPtr mech,
        uint flags, uint timeReq, IntPtr bindings, ref Buffer input, IntPtr actualMech, out Buffer output, out uint retFlags, out uint timeRec);

    [DllImport(Library, EntryPoint = "gss_inquire_sec_context_by_oid")]
    public static extern uint InquireSecContextByOid(out uint minor, IntPtr context, IntPtr oid, out IntPtr dataSet);

    [DllImport(Library, EntryPoint = "gss_release_buffer_set")]
    public static extern uint ReleaseBufferSet(out uint minor, ref IntPtr dataSet);

    [DllImport(Library, EntryPoint = "gss_release_buffer")]
    public static extern uint ReleaseBuffer(out uint minor, ref Buffer buffer);

    [DllImport(Library, EntryPoint = "gss_delete_sec_context")]
    public static extern uint DeleteSecContext(out uint minor, ref IntPtr context, IntPtr outputToken);

    [DllImport(Library, EntryPoint = "gss_release_name")]
    public static extern uint ReleaseName(out uint minor, ref IntPtr name);

    [DllImport(Library, EntryPoint = "gss_release_cred")]
    public static extern uint ReleaseCred(out uint minor, ref IntPtr cred);

    [DllImport(Library, EntryPoint = "gss_display_status")]
    private static extern uint DisplayStatus(out uint minor, uint status, int statusType, IntPtr mech, ref uint messageContext, out Buffer text);

    /// <summary>The library's own words for a failure: the GSS-API status, then the mechanism's (Kerberos) one.</summary>
    public static string Describe(uint major, uint minor)
    {
        var parts = new List<string>();
        Collect(major, 1, IntPtr.Zero, parts); // GSS_C_GSS_CODE
        if (minor != 0)
        {
            Collect(minor, 2, Krb5Mechanism, parts); // GSS_C_MECH_CODE
        }
        return string.Join(": ", parts.Distinct());
    }

    private static void Collect(uint status, int type, IntPtr mech, List<string> into)
    {
        uint context = 0;
        for (var i = 0; i < 8; i++)
        {
            if (IsError(DisplayStatus(out _, status, type, mech, ref context, out var text)))
            {
                return;
            }
            try
            {
                if (text.Length > 0 && text.Value != IntPtr.Zero)
                {
                    into.Add(Marshal.PtrToStringUTF8(text.Value, (int)text.Length).TrimEnd('\0', ' '));
                }
            }
            finally
            {
                ReleaseBuffer(out _, ref text);
            }
            if (context == 0)
            {
                return;
            }
        }
    }

    /// <summary>Copies a buffer the library returned, and releases it.</summary>
    public static byte[] TakeBytes(ref Buffer buffer)
    {
        try
        {
            if (buffer.Length == 0 || buffer.Value == IntPtr.Zero)
            {
                return [];
            }
            var bytes = new byte[(int)buffer.Length];
            Marshal.Copy(buffer.Value, bytes, 0, bytes.Length);
            return bytes;
        }
        finally
        {
            ReleaseBuffer(out _, ref buffer);
        }
    }

    /// <summary>Imports <paramref name="text"/> as a name of <paramref name="type"/>.</summary>
    public static IntPtr Name(string text, IntPtr type, Func<uint, uint, Exception> fail)
    {
        using var buffer = NativeBuffer.Utf8(text);
        var major = ImportName(out var minor, ref buffer.Buffer, type, out var name);
        if (IsError(major))
        {
            throw fail(major, minor);
        }
        return name;
    }

    /// <summary>Bytes as a gss_buffer_desc in unmanaged memory, zeroed and freed on dispose (they may be a password).</summary>
    public sealed class NativeBuffer : IDisposable
    {
        public Buffer Buffer;

        public NativeBuffer(byte[] bytes)
        {
            Buffer = new Buffer { Length = (nuint)bytes.Length, Value = Marshal.AllocHGlobal(Math.Max(1, bytes.Length)) };
            Marshal.Copy(bytes, 0, Buffer.Value, bytes.Length);
        }

        /// <summary>UTF-8 of <paramref name="text"/>; the managed copy is cleared at once.</summary>
        public static NativeBuffer Utf8(string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            try
            {
                return new NativeBuffer(bytes);
            }
            finally
            {
                Array.Clear(bytes);
            }
        }

        public void Dispose()
        {
            if (Buffer.Value != IntPtr.Zero)
            {
                Marshal.Copy(new byte[(int)Buffer.Length], 0, Buffer.Value, (int)Buffer.Length);
                Marshal.FreeHGlobal(Buffer.Value);
                Buffer.Value = IntPtr.Zero;
            }
        }
    }
}
